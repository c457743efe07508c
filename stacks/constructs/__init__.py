"""One-capability constructs the service stack is composed of."""
