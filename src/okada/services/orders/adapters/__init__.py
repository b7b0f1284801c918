"""Orders adapters layer."""
