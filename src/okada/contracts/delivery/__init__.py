"""delivery contracts."""
