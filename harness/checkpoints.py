"""Registry of trained selector checkpoints: results/checkpoints/index.jsonl.

The trainer appends one entry per finished training run (name, path, base model, training
data, steps, config hash, metrics); `rl-genselect` resolves the newest entry or a named one, and
its run records and leaderboard rows carry the checkpoint's name.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness.errors import CheckpointError
from harness.jsonl import Appender, read_records

INDEX = "index.jsonl"


class NoCheckpointError(CheckpointError, LookupError):
    """rl-genselect was asked for but no trained checkpoint is registered."""


def checkpoints_dir(results_dir: str | Path) -> Path:
    return Path(results_dir) / "checkpoints"


def list_checkpoints(results_dir: str | Path) -> list[dict[str, Any]]:
    path = checkpoints_dir(results_dir) / INDEX
    if not path.exists():
        return []
    _, rows = read_records(path, "checkpoints")
    return [{k: v for k, v in row.items() if k != "_line"} for row in rows]


def register_checkpoint(results_dir: str | Path, entry: dict[str, Any]) -> dict[str, Any]:
    for key in ("name", "path", "base_model"):
        if key not in entry:
            raise ValueError(f"a checkpoint entry needs {key!r}")
    entry = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "created_unix": time.time(),
             **entry}
    with Appender(checkpoints_dir(results_dir) / INDEX, "checkpoints", {}) as out:
        out.write(entry)
    return entry


def resolve_checkpoint(results_dir: str | Path, name_or_path: str | None = None) -> dict[str, Any]:
    if name_or_path and Path(name_or_path).is_dir():
        return {"name": Path(name_or_path).name, "path": str(Path(name_or_path))}
    entries = list_checkpoints(results_dir)
    if name_or_path:
        named = [e for e in entries if e["name"] == name_or_path]
        if not named:
            known = ", ".join(e["name"] for e in entries) or "(none)"
            raise NoCheckpointError(f"no checkpoint named {name_or_path!r} under "
                                    f"{checkpoints_dir(results_dir)}; registered: {known}")
        return named[-1]
    if not entries:
        raise NoCheckpointError(
            "rl-genselect needs a trained selector, and none is registered under "
            f"{checkpoints_dir(results_dir)}. "
            "Train one with `python -m harness train --config trainers/configs/cpu-smoke.yaml`, "
            "or name a model folder with --judge-model PATH.")
    return max(entries, key=lambda e: e.get("created_unix", 0))
