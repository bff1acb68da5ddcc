"""Cache of LLM-selector calls: results/judge/<judge-key>.sqlite.

The judge key hashes everything about the judge that changes its output (backend, model and
revision, prompt version, sampling params); each row is keyed by a hash of the exact request
(prompt text and seed). A rerun of a finished experiment therefore finds every call here and
makes none.

Why sqlite (WAL mode) and not a JSONL file read whole: many runs share one results tree on a
cluster; each lookup here is an indexed read, so a run never loads a 100,000-call cache into
memory, concurrent runs append without corrupting each other (one transaction per batch; a
second writer waits on the lock), and a call answered twice (the race of two runs asking at
once) is stored once (`INSERT OR IGNORE` on the primary key). A killed run keeps every batch it
committed. A cache written by older versions (`<judge-key>.jsonl`) is imported on first use.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Sequence

from harness.backends.base import GenRequest, GenResult
from harness.errors import DataError
from harness.jsonl import locked, read_records
from harness.types import stable_hash

BUSY_TIMEOUT_S = 60.0  # how long a writer waits for another process's transaction


def request_key(request: GenRequest) -> str:
    return stable_hash({"prompt": request.prompt, "messages": request.messages, "seed": request.seed,
                        "params": request.params.to_json()}, 20)


class JudgeCache:
    def __init__(self, root: Path, judge_spec: dict[str, Any]) -> None:
        self.judge_key = stable_hash(judge_spec, 16)
        self.path = Path(root) / f"{self.judge_key}.sqlite"
        self.spec = judge_spec
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a crash loses no committed batch
            self._db.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, text TEXT NOT NULL, "
                             "finish_reason TEXT NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER)")
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('judge', ?)", (json.dumps(judge_spec),))
        except sqlite3.DatabaseError as exc:
            raise DataError(f"{self.path}: not a usable judge cache ({exc}); move it aside to start a "
                            "new one") from exc
        self._import_legacy(Path(root) / f"{self.judge_key}.jsonl")

    def _import_legacy(self, legacy: Path) -> None:
        if not legacy.exists():
            return
        with locked(legacy):  # one process imports; the others find it done
            if not legacy.exists():
                return
            _, rows = read_records(legacy, "judge")
            self._insert((row["key"], row["text"], row["finish_reason"], row.get("prompt_tokens"),
                          row.get("completion_tokens")) for row in rows)
            legacy.rename(legacy.with_name(legacy.name + ".imported"))

    def get(self, request: GenRequest) -> GenResult | None:
        row = self._db.execute("SELECT text, finish_reason, prompt_tokens, completion_tokens FROM calls "
                               "WHERE key = ?", (request_key(request),)).fetchone()
        return None if row is None else GenResult(*row)

    def get_many(self, requests: Sequence[GenRequest]) -> list[GenResult | None]:
        return [self.get(r) for r in requests]

    def put_many(self, pairs: list[tuple[GenRequest, GenResult]]) -> None:
        if pairs:
            self._insert((request_key(req), res.text, res.finish_reason, res.prompt_tokens,
                          res.completion_tokens) for req, res in pairs)

    def _insert(self, rows: Iterable[tuple]) -> None:
        with self._db:  # one transaction: a batch is committed whole or not at all
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR IGNORE INTO calls VALUES (?, ?, ?, ?, ?)", list(rows))

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def close(self) -> None:
        self._db.close()
