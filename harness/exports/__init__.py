"""Exports: harness runs and pools in the formats other tools read."""
