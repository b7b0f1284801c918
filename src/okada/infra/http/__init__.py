"""HTTP conventions shared by every service: problems, middleware, health, auth, idempotency."""
