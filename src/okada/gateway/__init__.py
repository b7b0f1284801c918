"""The public edge: routing, token verification, limits, caching, resilience, docs."""
