"""Database adapters for both dialects: engines, portable types, outbox, inbox, UoW."""
