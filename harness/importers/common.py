"""Shared pieces of the importers: streaming JSONL reading, typed field access, problem matching."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from harness.errors import DataError
from harness.jsonl import JsonlFormatError, iter_plain
from harness.types import Candidate, GenSpec, Problem


class ImportFormatError(DataError, ValueError):
    """An input file whose format is unknown or cannot be used (not a malformed line)."""


@dataclass(frozen=True)
class Parsed:
    """One candidate read from the input, destined for the pool `pool` of the ReadResult.

    fixed=True: candidate.index is final (it comes from the source: a sample index or a repeat
    position). fixed=False: the index is assigned per problem at write time, in sorted order of
    `identity(candidate)`, after the candidates the pool already holds (see pool_import).
    """

    pool: str
    candidate: Candidate
    fixed: bool


@dataclass(frozen=True)
class PoolPlan:
    spec: GenSpec
    label: str


@dataclass
class ReadResult:
    fmt: str
    files: list[Path]
    pools: dict[str, PoolPlan] = field(default_factory=dict)
    rows: list[Parsed] = field(default_factory=list)
    unmatched: dict[str, str] = field(default_factory=dict)  # dedupe key -> name in the report


def identity(cand: Candidate) -> tuple:
    """What makes an order-assigned candidate the same one across imports (seed, model, sample)."""
    md = cand.metadata
    return (cand.seed, md.get("model"), md.get("sample_index"), md.get("source_file"))


def identity_sort_key(ident: tuple) -> tuple:
    # None sorts last; positions hold one type each (int or str), so comparisons never mix types.
    return tuple((value is None, 0 if value is None else value) for value in ident)


def iter_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line, streamed (harness.jsonl.iter_plain: no header,
    `.gz` allowed, a bad line is an error naming file and line)."""
    return iter_plain(path)


_MISSING = object()


def get_field(obj: dict[str, Any], name: str, kinds: tuple[type, ...], where: str,
              required: bool = False) -> Any:
    """obj[name] checked against kinds (None allowed when not required; bool is not an int)."""
    value = obj.get(name, _MISSING)
    if value is _MISSING or (value is None and not required):
        if required:
            raise JsonlFormatError(f"{where}: missing field {name!r}")
        return None
    is_bool = isinstance(value, bool)
    ok = isinstance(value, kinds) and (not is_bool or bool in kinds)
    if float in kinds and isinstance(value, int) and not is_bool:
        ok = True
    if not ok:
        names = " or ".join(k.__name__ for k in kinds)
        raise JsonlFormatError(f"{where}: field {name!r} must be {names}, got {type(value).__name__}")
    return float(value) if kinds == (float,) else value


def normalize_text(text: str) -> str:
    return " ".join(text.split())


class ProblemMatcher:
    """Finds the task problem an input line belongs to: by id first, then by statement text."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.ids = {p.id for p in problems}
        self.by_text: dict[str, str] = {}
        for p in problems:
            self.by_text.setdefault(normalize_text(p.statement), p.id)

    def match(self, ids: Sequence[Any], text: str | None) -> str | None:
        for value in ids:
            if value is not None and str(value) in self.ids:
                return str(value)
        if text is not None:
            return self.by_text.get(normalize_text(text))
        return None

    @staticmethod
    def note_unmatched(result: ReadResult, ids: Sequence[Any], text: str | None) -> None:
        """Record an input problem the task lacks, named by its id, else the start of its text."""
        for value in ids:
            if value is not None:
                result.unmatched.setdefault(f"id:{value}", str(value))
                return
        flat = normalize_text(text or "")
        result.unmatched.setdefault(f"text:{flat}", "text:" + (flat[:60] + "..." if len(flat) > 60 else flat))
