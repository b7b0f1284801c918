"""The ``okada`` command."""
