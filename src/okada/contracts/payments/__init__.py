"""payments contracts."""
