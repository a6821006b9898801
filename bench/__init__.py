"""Throughput benchmarks (not tests): `python -m bench`."""
