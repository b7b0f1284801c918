"""Token verification and the signed internal principal shared by gateway and services."""
