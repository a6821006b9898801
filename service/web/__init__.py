"""HTTP handlers: webhook intake, the read API, health and admin."""
