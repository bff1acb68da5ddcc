"""Append-only JSONL files with a schema header, safe against kills and concurrent writers.

Layout: line 1 is a header object carrying "schema" and "kind"; every other line is one record.
A process killed mid-write leaves at most one partial last line (no trailing newline): readers
ignore it and the next writer truncates it before appending, so a resumed job loses only the
line that was in flight. A malformed line anywhere else is an error naming file and line.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

from harness.types import SCHEMA_VERSION


class JsonlFormatError(ValueError):
    """A line that is not a valid record; the message names file, line and field."""


def _partial_tail_offset(path: Path) -> int | None:
    """Byte offset where an unterminated last line starts, or None if the file ends cleanly."""
    size = path.stat().st_size
    if size == 0:
        return None
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return None
        # Walk back to the previous newline (files are read in blocks to stay fast).
        pos = size
        while pos > 0:
            step = min(65536, pos)
            handle.seek(pos - step)
            block = handle.read(step)
            cut = block.rfind(b"\n")
            if cut >= 0:
                return pos - step + cut + 1
            pos -= step
        return 0


def read_records(path: Path, kind: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return (header, records). A trailing partial line (killed writer) is skipped."""
    path = Path(path)
    header: dict[str, Any] | None = None
    records: list[dict[str, Any]] = []
    tail = _partial_tail_offset(path)
    with path.open("rb") as handle:
        offset = 0
        for line_no, raw in enumerate(handle, 1):
            if tail is not None and offset >= tail:
                break  # the unterminated last line of a killed writer
            offset += len(raw)
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise JsonlFormatError(f"{path}:{line_no}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
            if not isinstance(obj, dict):
                raise JsonlFormatError(f"{path}:{line_no}: expected a JSON object, got {type(obj).__name__}")
            if header is None:
                if obj.get("kind") != kind or "schema" not in obj:
                    raise JsonlFormatError(f"{path}:{line_no}: header must have kind={kind!r} and a schema version")
                if obj["schema"] > SCHEMA_VERSION:
                    raise JsonlFormatError(f"{path}: schema {obj['schema']} is newer than this harness ({SCHEMA_VERSION})")
                header = obj
                continue
            obj["_line"] = line_no
            records.append(obj)
    if header is None:
        raise JsonlFormatError(f"{path}: empty file (no header line)")
    return header, records


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `<path>.lock`, for writers of the same file."""
    lock_path = Path(str(path) + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class Appender:
    """Writes records one line at a time, flushing each, under the file's lock."""

    def __init__(self, path: Path, kind: str, header: dict[str, Any]) -> None:
        self.path = Path(path)
        self.kind = kind
        self.header = header
        self._handle = None
        self._lock = None

    def __enter__(self) -> "Appender":
        self._lock = locked(self.path)
        self._lock.__enter__()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            tail = _partial_tail_offset(self.path)
            if tail is not None:
                os.truncate(self.path, tail)  # drop the line a killed writer left half-written
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        self._handle = self.path.open("a", encoding="utf-8")
        if fresh:
            self._write({"schema": SCHEMA_VERSION, "kind": self.kind, **self.header})
        return self

    def _write(self, obj: dict[str, Any]) -> None:
        assert self._handle is not None
        self._handle.write(json.dumps(obj, ensure_ascii=False, sort_keys=True) + "\n")
        self._handle.flush()

    def write(self, record: dict[str, Any]) -> None:
        self._write(record)

    def write_many(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            self._write(record)

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
        if self._lock is not None:
            self._lock.__exit__(None, None, None)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write a JSON document so readers see the old or the new file, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
