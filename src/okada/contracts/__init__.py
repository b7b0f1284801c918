"""Published language between services: versioned, frozen event and DTO types."""
