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

from pydantic import BaseModel, ValidationError

from harness.errors import DataError
from harness.jsonl import Appender, read_records
from harness.pools import slugify
from harness.records import RUN_SCHEMA, NPoint, RunData


@dataclass(frozen=True)
class RunRecord:
    path: Path
    info: RunData

    @property
    def run_id(self) -> str:
        return self.info.run_id

    @property
    def selector(self) -> str:
        return self.info.selector.name

    @property
    def task(self) -> str:
        return self.info.task.name

    @property
    def summary(self) -> tuple[NPoint, ...]:
        return self.info.summary

    def point(self, n: int) -> NPoint:
        for point in self.info.summary:
            if point.n == n:
                return point
        raise KeyError(f"run {self.path.name} has no N={n} (has {[p.n for p in self.info.summary]})")

    def problems(self) -> list[dict[str, Any]]:
        _, rows = read_records(self.path / "problems.jsonl", "problems")
        return [{k: v for k, v in row.items() if k != "_line"} for row in rows]


def new_run_id() -> str:
    return uuid.uuid4().hex[:8]


def write_run(runs_dir: Path, data: RunData, problem_rows: Iterable[BaseModel],
              extra_files: dict[str, Iterable[BaseModel]] | None = None) -> RunRecord:
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(data.created_unix))
    name = f"{stamp}_{slugify(data.task.name)}_{slugify(data.selector.name)}_{data.run_id}"
    tmp = runs_dir / f".tmp-{name}"
    tmp.mkdir()
    try:
        for file_name, rows in {"problems.jsonl": problem_rows, **(extra_files or {})}.items():
            with Appender(tmp / file_name, file_name.removesuffix(".jsonl"), {"run_id": data.run_id}) as out:
                out.write_many(row.model_dump(mode="json") for row in rows)
        (tmp / "run.json").write_text(data.model_dump_json(indent=2) + "\n", encoding="utf-8")
        for lock in tmp.glob("*.lock"):
            lock.unlink()
        os.replace(tmp, runs_dir / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RunRecord(runs_dir / name, data)


def read_run(run_json: Path) -> RunRecord:
    """One run record; an unreadable or older-schema record is a DataError naming the file."""
    try:
        raw = json.loads(run_json.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{run_json}: unreadable run record ({exc})") from exc
    version = raw.get("schema_version", raw.get("schema", 0)) if isinstance(raw, dict) else 0
    if version != RUN_SCHEMA:
        raise DataError(f"{run_json}: run record of schema {version}, "
                        f"this harness reads schema {RUN_SCHEMA}; "
                        f"rerun it or move its folder out of {run_json.parent.parent}")
    try:
        return RunRecord(run_json.parent, RunData.model_validate(raw))
    except ValidationError as exc:
        raise DataError(f"{run_json}: not a valid run record ({exc.errors()[0]['loc']}: "
                        f"{exc.errors()[0]['msg']})") from exc


def load_runs(runs_dir: Path) -> list[RunRecord]:
    """Every complete run record, oldest first. Unreadable records are reported, not skipped silently."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    records = [read_run(run_json) for run_json in sorted(runs_dir.glob("*/run.json"))
               if not run_json.parent.name.startswith(".")]
    records.sort(key=lambda r: (r.info.created_unix, r.path.name))
    return records


def find_run(runs_dir: Path, ref: str) -> RunRecord:
    """A run by folder path, run id, or a unique prefix of its folder name."""
    if (Path(ref) / "run.json").is_file():
        return read_run(Path(ref) / "run.json")
    runs = load_runs(runs_dir)
    found = [r for r in runs if r.run_id == ref] or [r for r in runs if r.path.name.startswith(ref)]
    if len(found) == 1:
        return found[0]
    names = ", ".join(r.path.name for r in (found or runs)[-8:]) or "(none)"
    raise DataError(f"{'several runs match' if found else 'no run matches'} {ref!r} "
                    f"under {runs_dir}: {names}")
