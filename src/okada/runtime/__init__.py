"""Composition roots: which services a process hosts, on which infrastructure."""
