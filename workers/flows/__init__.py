"""I/O flows of the tasks: fetch, call the pure decisions, apply idempotently."""
