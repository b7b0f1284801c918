"""Cache adapters: in-memory (embedded) and Redis (distributed)."""
