"""Where things live: data for local task sources, and the results tree.

Settings are explicit values passed down from the CLI or the Python caller, never module
globals. `Settings.resolve` reads the environment once, and a flag overrides it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATA_DIR_ENV = "HARNESS_DATA_DIR"
RESULTS_DIR_ENV = "HARNESS_RESULTS_DIR"
SANDBOX_ENV = "HARNESS_SANDBOX"
SANDBOX_MODES = ("auto", "strict", "none")  # harness.sandbox.executor.MODES


@dataclass(frozen=True)
class Settings:
    results_dir: Path
    data_dir: Path | None = None  # local task sources (layout of shared/data); None = hub
    # How generated code is isolated (harness.sandbox.Executor): "auto" refuses a host with no
    # isolation at all; running untrusted code unisolated takes an explicit "none".
    sandbox: str = "auto"

    def __post_init__(self) -> None:
        if self.sandbox not in SANDBOX_MODES:
            raise ValueError(f"sandbox isolation must be one of {', '.join(SANDBOX_MODES)} "
                             f"(--sandbox / {SANDBOX_ENV}), got {self.sandbox!r}")

    @classmethod
    def resolve(cls, data_dir: str | os.PathLike | None = None,
                results_dir: str | os.PathLike | None = None, sandbox: str | None = None) -> "Settings":
        data = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV) or None
        results = results_dir if results_dir is not None else os.environ.get(RESULTS_DIR_ENV, "results")
        isolation = sandbox if sandbox is not None else os.environ.get(SANDBOX_ENV) or "auto"
        return cls(results_dir=Path(results), data_dir=Path(data) if data else None, sandbox=isolation)

    @property
    def pools_dir(self) -> Path:
        return self.results_dir / "pools"

    @property
    def runs_dir(self) -> Path:
        return self.results_dir / "runs"

    @property
    def plots_dir(self) -> Path:
        return self.results_dir / "plots"
