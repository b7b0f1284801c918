"""HTTP routes and background loops of the sync service."""
