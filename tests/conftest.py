"""Shared fixtures. Real data comes from HARNESS_DATA_DIR (shared/data); tests needing it skip without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.settings import Settings


@pytest.fixture
def data_dir() -> Path:
    value = os.environ.get("HARNESS_DATA_DIR")
    if not value or not Path(value).is_dir():
        pytest.skip("HARNESS_DATA_DIR is not set to the shared data folder")
    return Path(value)


@pytest.fixture
def settings(tmp_path, data_dir) -> Settings:
    return Settings.resolve(data_dir=data_dir, results_dir=tmp_path / "results")


@pytest.fixture(scope="session")
def shared_results(tmp_path_factory):
    """One results tree per test session for the (slow) real-data imports, reused across tests."""
    return tmp_path_factory.mktemp("shared-results")
