"""Sync use cases: pull, push, REST edits, read models from events, uploads."""
