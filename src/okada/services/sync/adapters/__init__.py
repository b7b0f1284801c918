"""Database, disk and HTTP adapters of the sync service."""
