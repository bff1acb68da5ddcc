"""Benchmark plugins. Each module registers nothing at import: tasks/catalog.py holds one small
factory per task, registered as the `harness.tasks` entry points in pyproject.toml."""
