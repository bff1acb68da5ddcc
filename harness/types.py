"""Frozen data types shared by every part of the harness (DESIGN.md section 3).

Plain frozen dataclasses, so they hash, compare and serialise predictably. Anything a selector
may see (Problem, Candidate) carries no gold answer and no grade: those live in Reference and
Grade, which only graders and the scoring step read.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

SCHEMA_VERSION = 1


def stable_hash(obj: Any, length: int = 12) -> str:
    """Hex digest of a JSON-serialisable object; key order never changes the hash."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


@dataclass(frozen=True)
class Problem:
    """What generators and selectors see. Deliberately no answer field."""

    id: str
    task: str
    statement: str
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        # Used to detect a pool whose problems no longer match the task's problems.
        return stable_hash(self.statement, 16)


@dataclass(frozen=True)
class Reference:
    """The gold answer (math) or tests (code); read only by the task's grader."""

    problem_id: str
    answer: str | None = None
    tests: Any = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GenSpec:
    """Everything that determines a candidate's text. Hashed into the pool key.

    Concurrency, timeouts and batch sizes are execution details and are not part of it.
    For imported pools, backend is "import" and `source` names where the text came from.
    """

    backend: str
    model: str
    revision: str | None = None
    prompt_version: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    seed: int | None = None
    source: str | None = None

    def key(self, task: str) -> str:
        return stable_hash({"task": task, **asdict(self)}, 16)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "GenSpec":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Candidate:
    """One sampled solution. `index` is its position in the pool for this problem."""

    problem_id: str
    index: int
    text: str
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    seed: int | None = None
    scores: Mapping[str, float] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        row["scores"] = dict(self.scores)
        row["metadata"] = dict(self.metadata)
        return row


@dataclass(frozen=True)
class Grade:
    """The grader's verdict on one candidate; computed once and cached per grader version.

    `correct` is None only when verdict == "error": a grader failure is never a silent 0.
    `answer` is the extracted final answer and `cluster` its equivalence class within the
    problem (both used by majority-style selectors, which never see `correct`).
    """

    problem_id: str
    index: int
    verdict: str
    correct: bool | None
    answer: str | None = None
    cluster: int | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
