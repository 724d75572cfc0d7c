"""Benchmarks of the harness itself (not tests): `python -m bench` from the repository root."""
