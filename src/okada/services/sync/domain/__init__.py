"""Sync domain: the WatermelonDB protocol rules and tus upload rules, free of I/O."""
