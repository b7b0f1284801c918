"""Orders application layer."""
