"""One package per service, each with the same anatomy; services never import each other."""
