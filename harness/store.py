"""Run records: results/runs/<timestamp>_<task>_<selector>_<id>/{run.json, problems.jsonl}.

A record is written into a hidden temporary folder and renamed into place in one step, so an
interrupted run leaves either a complete record or none (a stale `.tmp-*` folder at most,
which readers ignore).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from harness.pools import slugify
from harness.types import SCHEMA_VERSION


@dataclass(frozen=True)
class RunRecord:
    path: Path
    data: dict[str, Any]

    @property
    def run_id(self) -> str:
        return self.data["run_id"]

    @property
    def selector(self) -> str:
        return self.data["selector"]["name"]

    @property
    def task(self) -> str:
        return self.data["task"]["name"]

    @property
    def summary(self) -> list[dict[str, Any]]:
        return self.data["summary"]

    def problems(self) -> list[dict[str, Any]]:
        with (self.path / "problems.jsonl").open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]


def new_run_id() -> str:
    return uuid.uuid4().hex[:8]


def write_run(runs_dir: Path, record: dict[str, Any], problem_rows: Iterable[dict[str, Any]],
              extra_files: dict[str, Iterable[dict[str, Any]]] | None = None) -> RunRecord:
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(record["created_unix"]))
    name = f"{stamp}_{slugify(record['task']['name'])}_{slugify(record['selector']['name'])}_{record['run_id']}"
    tmp = runs_dir / f".tmp-{name}"
    tmp.mkdir()
    try:
        for file_name, rows in {"problems.jsonl": problem_rows, **(extra_files or {})}.items():
            with (tmp / file_name).open("w", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(json.dumps(row, sort_keys=True) + "\n")
        (tmp / "run.json").write_text(json.dumps({"schema": SCHEMA_VERSION, "kind": "run", **record},
                                                 indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, runs_dir / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RunRecord(runs_dir / name, json.loads((runs_dir / name / "run.json").read_text()))


def load_runs(runs_dir: Path) -> list[RunRecord]:
    """Every complete run record, oldest first. Unreadable records are reported, not skipped silently."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    records = []
    for run_json in sorted(runs_dir.glob("*/run.json")):
        if run_json.parent.name.startswith("."):
            continue
        try:
            data = json.loads(run_json.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{run_json}: unreadable run record ({exc.msg})") from exc
        if data.get("kind") != "run" or data.get("schema", 0) > SCHEMA_VERSION:
            raise ValueError(f"{run_json}: not a run record of schema <= {SCHEMA_VERSION}")
        records.append(RunRecord(run_json.parent, data))
    records.sort(key=lambda r: (r.data["created_unix"], r.path.name))
    return records
