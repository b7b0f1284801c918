"""orders contracts."""
