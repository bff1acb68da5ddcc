"""Benchmark plugins. Each module registers nothing at import; harness/plugins.py lists them lazily."""
