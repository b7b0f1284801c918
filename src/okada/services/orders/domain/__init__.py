"""Orders domain layer."""
