"""Helpers for tests and benchmarks, not for the product: synthetic candidate tables of known
shape, and a throwaway PostgreSQL server."""
