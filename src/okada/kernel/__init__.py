"""Shared kernel: pure-Python building blocks every service may use."""
