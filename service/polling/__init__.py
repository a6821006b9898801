"""Carrier polling: a persisted, adaptive schedule; per-carrier rate limits and circuit breakers."""
