"""The HTTP API: Falcon resources, one module per area, and the pieces they share."""
