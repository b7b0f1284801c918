"""Orders entrypoints layer."""
