"""Final-answer math benchmarks: AIME24, AIME25, HMMT Feb 2025 and the MATH-style family.

One `MathTask` class; each benchmark is a `MathSource` describing where its problems live on the
hub and locally, and how hub rows map onto our ids (so pools work whichever source was used).

Hub datasets (the ones users expect):
  aime24 -> HuggingFaceH4/aime_2024 (split train; ids from the AoPS url)
  aime25 -> MathArena/aime_2025     (split train; problem_idx 1-15 = I, 16-30 = II)
  hmmt25 -> MathArena/hmmt_feb_2025 (split train; problem_idx 1-30)
  math500 -> HuggingFaceH4/MATH-500 (split test)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from harness.grading.math_grader import MathGrader
from harness.settings import Settings
from harness.task import TaskDataError
from harness.types import Problem, Reference, stable_hash
from tasks.sources import load_rows

# Version history: bump when the prompt, extraction or grading of math tasks changes.
MATH_TASK_VERSION = "1"

MATH_PROMPT_V1 = (
    "Solve the following math problem. Reason step by step, and put your final answer "
    "within \\boxed{{}}.\n\n{statement}"
)


@dataclass(frozen=True)
class MathSource:
    name: str
    local_subdir: str
    hub_id: str | None
    hub_split: str = "train"
    hub_config: str | None = None
    integer_answers: bool = False  # AIME: answers are integers 0-999, "025" == "25"
    hub_row_id: Callable[[dict[str, Any], int], str] | None = None
    extra_version: str = ""


def _aime24_id(row: dict[str, Any], position: int) -> str:
    match = re.search(r"(\d{4})_AIME_(I+)_Problems/Problem_(\d+)", str(row.get("url", "")))
    if match:
        return f"aime24-{match.group(1)}-{match.group(2)}-{int(match.group(3)):02d}"
    return f"aime24-{row.get('id', position)}"


def _aime25_id(row: dict[str, Any], position: int) -> str:
    idx = int(row.get("problem_idx", position + 1))
    part, number = ("I", idx) if idx <= 15 else ("II", idx - 15)
    return f"aime25-2025-{part}-{number:02d}"


def _hmmt25_id(row: dict[str, Any], position: int) -> str:
    return f"hmmt_feb25-{int(row.get('problem_idx', position + 1)):02d}"


SOURCES: dict[str, MathSource] = {
    "aime24": MathSource("aime24", "aime24", "HuggingFaceH4/aime_2024", integer_answers=True,
                         hub_row_id=_aime24_id),
    "aime25": MathSource("aime25", "aime25", "MathArena/aime_2025", integer_answers=True,
                         hub_row_id=_aime25_id),
    "hmmt25": MathSource("hmmt25", "hmmt_feb25", "MathArena/hmmt_feb_2025", hub_row_id=_hmmt25_id),
    "math500": MathSource("math500", "math500", "HuggingFaceH4/MATH-500", hub_split="test",
                          hub_row_id=lambda row, i: f"math500-{row.get('unique_id', i)}"),
    "math_cot_100": MathSource("math_cot_100", "math_cot_100", None),
    "math_l5": MathSource("math_l5", "math_l5", None),
}


@dataclass
class MathTask:
    """A final-answer math benchmark graded with math-verify."""

    spec: MathSource
    settings: Settings
    hub_id: str | None = None  # override, e.g. a local mirror of the hub dataset
    kind: str = "math"
    _rows: list[dict[str, Any]] | None = field(default=None, repr=False)
    _source: str = field(default="", repr=False)

    @property
    def source(self) -> str:
        """Where the problems came from, e.g. 'local:/path/problems.jsonl' or 'hub:Org/name'."""
        self._load()
        return self._source

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        return f"{MATH_TASK_VERSION}{self.spec.extra_version}-{self.grader().version}"

    # -- data -----------------------------------------------------------------------------
    def _load(self) -> list[dict[str, Any]]:
        if self._rows is not None:
            return self._rows
        spec = self.spec
        loaded = load_rows(self.name, self.settings, subdir=spec.local_subdir, hub_id=self.hub_id,
                           default_hub_id=spec.hub_id, split=spec.hub_split, config=spec.hub_config)
        self._source = loaded.source
        rows = loaded.rows
        if loaded.from_hub:
            rows = [self._from_hub(row, i) for i, row in enumerate(rows)]
        for row in rows:
            missing = [key for key in ("id", "problem", "answer") if row.get(key) in (None, "")]
            if missing:
                raise TaskDataError(f"{self._source}: problem {row.get('id', '?')} lacks "
                                    f"{', '.join(missing)}")
        self._rows = rows
        return rows

    def _from_hub(self, row: dict[str, Any], position: int) -> dict[str, Any]:
        make_id = self.spec.hub_row_id or (lambda r, i: f"{self.name}-{i:04d}")
        return {"id": make_id(row, position), "problem": row.get("problem") or row.get("question"),
                "answer": None if row.get("answer") is None else str(row["answer"]),
                "metadata": {k: v for k, v in row.items() if k not in ("problem", "answer", "solution")}}

    def problems(self) -> list[Problem]:
        return [Problem(id=row["id"], task=self.name, statement=row["problem"],
                        metadata=dict(row.get("metadata") or {})) for row in self._load()]

    def references(self) -> dict[str, Reference]:
        return {row["id"]: Reference(problem_id=row["id"], answer=str(row["answer"]))
                for row in self._load()}

    def grader(self) -> MathGrader:
        return MathGrader(integer_answers=self.spec.integer_answers)

    def prompt(self, problem: Problem) -> str:
        return MATH_PROMPT_V1.format(statement=problem.statement)

    def fingerprint(self) -> str:
        return stable_hash(sorted(p.id for p in self.problems()), 16)


def make_math_task(name: str):
    def factory(settings: Settings, arg: str | None = None, hub_id: str | None = None) -> MathTask:
        return MathTask(SOURCES[name], settings, hub_id=hub_id)
    factory.__doc__ = f"math task {name}"
    return factory


def math_family(settings: Settings, arg: str | None = None, hub_id: str | None = None) -> MathTask:
    """`math:<subdir>`: any MATH-style local dataset <data_dir>/<subdir>/problems.jsonl."""
    if not arg:
        raise TaskDataError("the math family needs a dataset name: --task math:<subdir> "
                            "(reads <data_dir>/<subdir>/problems.jsonl)")
    if not re.fullmatch(r"[A-Za-z0-9._-]+", arg):
        raise TaskDataError(f"math:{arg}: dataset names may use letters, digits, '.', '_' and '-' only")
    spec = SOURCES.get(arg) or MathSource(arg, arg, None)
    return MathTask(spec, settings, hub_id=hub_id)


class _Factories:
    """Attribute access for the registry's lazy 'module:attr' entries."""

    def __getattr__(self, name: str):
        if name not in SOURCES:
            raise AttributeError(name)
        return make_math_task(name)


TASK_FACTORIES = _Factories()
