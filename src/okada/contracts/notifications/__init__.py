"""notifications contracts."""
