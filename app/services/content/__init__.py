"""Content services: queries, validation, writes, workflow and scheduling."""
