"""The project's one JSONL reader and appender.

Two shapes of file:
- our own append-only files (pools, grades, judge calls, checkpoints, datasets, exec outcomes):
  line 1 is a header object carrying "schema" and "kind", every other line one record. Read
  with `read_records` / `iter_records`, written with `Appender`. A process killed mid-write
  leaves at most one partial last line (no trailing newline): readers ignore it and the next
  writer truncates it before appending, so a resumed job loses only the line that was in flight.
- headerless JSONL (task data problems.jsonl, NeMo-Skills outputs, lm-eval samples, a run's
  problems.jsonl): read with `read_plain` / `iter_plain` (streaming; `.gz` files too).

The same rules everywhere: blank lines are skipped; a line that is not UTF-8, not JSON or not a
JSON object is a JsonlFormatError naming file and line, never skipped. Only our own append-only
files may end in a half-written line (`partial_tail=True`), and only the last line.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import json
import os
import zlib
from pathlib import Path
from typing import Any, Iterable, Iterator, TextIO

from harness.errors import DataError
from harness.types import SCHEMA_VERSION


class JsonlFormatError(DataError, ValueError):
    """A line that is not a valid record; the message names file, line and field."""


def _partial_tail_offset(path: Path, size: int | None = None) -> int | None:
    """Byte offset where an unterminated last line starts, or None if the file ends cleanly.

    size: look only at the file's first `size` bytes (a snapshot taken by the caller).
    """
    size = path.stat().st_size if size is None else size
    if size == 0:
        return None
    with path.open("rb") as handle:
        handle.seek(size - 1)
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


_BOM = b"\xef\xbb\xbf"


def parse_line(raw: bytes | str, path: Path | str, line_no: int) -> dict[str, Any] | None:
    """The object on one JSONL line, or None for a blank line; errors name `path:line_no`."""
    if isinstance(raw, bytes):
        if line_no == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonlFormatError(f"{path}:{line_no}: not valid UTF-8 (byte {raw[exc.start]:#04x} "
                                   f"at offset {exc.start})") from exc
    else:
        text = raw
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JsonlFormatError(f"{path}:{line_no}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
    except RecursionError as exc:
        raise JsonlFormatError(f"{path}:{line_no}: not valid JSON (nested too deeply)") from exc
    if not isinstance(obj, dict):
        raise JsonlFormatError(f"{path}:{line_no}: expected a JSON object, got {type(obj).__name__}")
    return obj


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")


def iter_plain(path: Path | str, *, partial_tail: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a headerless JSONL file, streamed.

    partial_tail=True (only for our own append-only files): an unterminated last line, left by
    a killed writer, is ignored, and so is anything appended after reading began. Otherwise
    every line must parse. `.gz` files are decompressed (they cannot have a partial tail).
    """
    path = Path(path)
    limit: int | None = None
    if partial_tail:
        if path.name.endswith(".gz"):
            raise ValueError(f"{path}: a compressed file is not an append-only file")
        size = path.stat().st_size  # what a concurrent writer appends after this point is not read
        tail = _partial_tail_offset(path, size)
        limit = size if tail is None else tail
    try:
        with _open_binary(path) as handle:
            offset = 0
            for line_no, raw in enumerate(handle, 1):
                if limit is not None and offset >= limit:
                    return
                offset += len(raw)
                obj = parse_line(raw, path, line_no)
                if obj is not None:
                    yield line_no, obj
    except (OSError, EOFError, zlib.error) as exc:  # e.g. a truncated or corrupt .gz file
        if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
            raise
        raise JsonlFormatError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from exc


def read_plain(path: Path | str, *, partial_tail: bool = False) -> list[dict[str, Any]]:
    """Every object of a headerless JSONL file, in file order (see iter_plain)."""
    return [obj for _, obj in iter_plain(path, partial_tail=partial_tail)]


def _check_header(path: Path, line_no: int, obj: dict[str, Any], kind: str) -> None:
    if obj.get("kind") != kind or "schema" not in obj:
        raise JsonlFormatError(f"{path}:{line_no}: header must have kind={kind!r} and a schema version")
    if not isinstance(obj["schema"], int) or isinstance(obj["schema"], bool):
        raise JsonlFormatError(f"{path}:{line_no}: header field 'schema' must be int")
    if obj["schema"] > SCHEMA_VERSION:
        raise JsonlFormatError(f"{path}: schema {obj['schema']} is newer than this harness "
                               f"({SCHEMA_VERSION})")


def _iter_with_header(path: Path, kind: str) -> Iterator[tuple[bool, dict[str, Any]]]:
    header_seen = False
    for line_no, obj in iter_plain(path, partial_tail=True):
        if not header_seen:
            _check_header(path, line_no, obj, kind)
            header_seen = True
            yield True, obj
            continue
        obj["_line"] = line_no
        yield False, obj
    if not header_seen:
        raise JsonlFormatError(f"{path}: empty file (no header line)")


def iter_records(path: Path | str, kind: str) -> Iterator[dict[str, Any]]:
    """The records of one of our append-only files, streamed, after checking its header.

    Each record carries "_line" (its line number). A trailing partial line is skipped.
    """
    for is_header, obj in _iter_with_header(Path(path), kind):
        if not is_header:
            yield obj


def read_records(path: Path | str, kind: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return (header, records) of one of our append-only files (see iter_records)."""
    header: dict[str, Any] = {}
    records: list[dict[str, Any]] = []
    for is_header, obj in _iter_with_header(Path(path), kind):
        if is_header:
            header = obj
        else:
            records.append(obj)
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
        self._handle: TextIO | None = None
        self._lock: contextlib.AbstractContextManager[None] | None = None

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

    def write_block(self, records: Iterable[dict[str, Any]]) -> None:
        """All records in one write: a kill leaves all of them or none (at most a torn last
        line, which the next writer drops), never the first half of a group that belongs together."""
        assert self._handle is not None
        self._handle.write("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records))
        self._handle.flush()

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
        if self._lock is not None:
            self._lock.__exit__(None, None, None)


def write_records_atomic(path: Path, kind: str, header: dict[str, Any],
                         records: Iterable[dict[str, Any]]) -> Path:
    """Rewrite one of our append-only files (header + records) under its lock, through a
    temporary name: a reader or appender sees the old file or the new one, never half of one."""
    path = Path(path)
    with locked(path):
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        with tmp.open("w", encoding="utf-8") as handle:
            for obj in ({"schema": SCHEMA_VERSION, "kind": kind, **header}, *records):
                handle.write(json.dumps(obj, ensure_ascii=False, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    return path


def write_plain_atomic(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    """A headerless JSONL file for another tool (e.g. NeMo-Skills' output-rs*.jsonl), written to a
    temporary name and renamed, so readers see the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write a JSON document so readers see the old or the new file, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_text_atomic(path: Path, text: str) -> Path:
    """A text file (markdown, HTML) written so readers see the old or the new file, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
