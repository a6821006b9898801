"""The carrier events service: everything with I/O (CLI, files; later HTTP, store, bus)."""
