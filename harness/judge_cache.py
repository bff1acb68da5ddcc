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

A sharded run (`run --shard i/k`, harness.shards) writes `<judge-key>.shard-i-of-k.sqlite` of its
own (k nodes need no shared lock) and reads the main cache besides; the next unsharded open
folds every shard file into the main cache and removes it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Sequence

from harness.backends.base import GenRequest, GenResult
from harness.errors import DataError
from harness.jsonl import locked, read_records
from harness.shards import Shard, shard_files, shard_path
from harness.types import stable_hash

BUSY_TIMEOUT_S = 60.0  # how long a writer waits for another process's transaction


def request_key(request: GenRequest) -> str:
    return stable_hash({"prompt": request.prompt, "messages": request.messages, "seed": request.seed,
                        "params": request.params.to_json()}, 20)


class JudgeCache:
    def __init__(self, root: Path, judge_spec: dict[str, Any], shard: Shard | None = None) -> None:
        self.judge_key = stable_hash(judge_spec, 16)
        main = Path(root) / f"{self.judge_key}.sqlite"
        self.path = shard_path(main, shard)
        self.spec = judge_spec
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = self._open(self.path)
        self._main: sqlite3.Connection | None = None  # a shard's read-only view of the main cache
        if shard is None:
            self._import_legacy(Path(root) / f"{self.judge_key}.jsonl")
            self._fold_shards(main)
        elif main.exists():
            self._main = self._open(main, readonly=True)

    def _open(self, path: Path, readonly: bool = False) -> sqlite3.Connection:
        try:
            if readonly:
                return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
            db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a crash loses no committed batch
            db.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, text TEXT NOT NULL, "
                       "finish_reason TEXT NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER)")
            db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('judge', ?)", (json.dumps(self.spec),))
            return db
        except sqlite3.DatabaseError as exc:
            raise DataError(f"{path}: not a usable judge cache ({exc}); move it aside to start a "
                            "new one") from exc

    def _fold_shards(self, main: Path) -> None:
        for shard_file in shard_files(main):
            with locked(shard_file):  # one process folds it; the others find it gone
                if not shard_file.exists():
                    continue
                try:
                    self._db.execute("ATTACH DATABASE ? AS shard", (str(shard_file),))
                    with self._db:
                        self._db.execute("BEGIN IMMEDIATE")
                        self._db.execute("INSERT OR IGNORE INTO calls SELECT key, text, finish_reason, "
                                         "prompt_tokens, completion_tokens FROM shard.calls")
                    self._db.execute("DETACH DATABASE shard")
                except sqlite3.DatabaseError as exc:
                    raise DataError(f"{shard_file}: not a usable judge cache shard ({exc}); move it aside") \
                        from exc
                for extra in ("", "-wal", "-shm", ".lock"):  # a waiter on the lock then finds it gone
                    Path(str(shard_file) + extra).unlink(missing_ok=True)

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
        key = request_key(request)
        for db in (self._db, self._main):
            if db is None:
                continue
            row = db.execute("SELECT text, finish_reason, prompt_tokens, completion_tokens FROM calls "
                             "WHERE key = ?", (key,)).fetchone()
            if row is not None:
                return GenResult(*row)
        return None

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
        if self._main is not None:
            self._main.close()
