"""`arith`: procedurally generated arithmetic word problems with exact integer answers.

Embedded (no data, no network) so the whole pipeline runs offline. The levels go down to
single-digit operations because the embedded 135M model fails at anything harder
(DESIGN.md section 11); there its candidate sets are mixed, which is what selection needs.

    --task arith                       test split, level "single" (a mix of add1/sub1/mul1), 20 problems
    --task arith:level=mul1,n=30,split=train,seed=3

Levels: add1, sub1, mul1 (single digit), add2 (two-digit addition), two-step (a + b - c, single
digits), single (add1 + sub1 + mul1 mixed), mixed (single + two-step: 169 test problems, enough
held-out problems for a paired confidence interval; single has only 36). Train and test are
disjoint by construction: every
operand tuple is assigned to one split by a hash of the tuple, and each split samples only
from its own tuples, so no (operation, operands) pair can appear in both.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from dataclasses import dataclass, field
from typing import Iterator

from harness.grading.integer_grader import IntegerGrader
from harness.settings import Settings
from harness.task import TaskDataError
from harness.types import Problem, Reference

ARITH_VERSION = "1"
TEST_SHARE = 5  # one tuple in five goes to the test split

NAMES = ("Ada", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Ivy", "Jon", "Kim")
ITEMS = ("apples", "marbles", "stickers", "pencils", "shells", "coins", "books", "cards")


def _tuples(op: str) -> Iterator[tuple[int, ...]]:
    if op == "add1":
        yield from itertools.product(range(1, 10), repeat=2)
    elif op == "sub1":
        yield from ((a, b) for a, b in itertools.product(range(1, 10), repeat=2) if a >= b)
    elif op == "mul1":
        yield from itertools.product(range(2, 10), repeat=2)
    elif op == "add2":
        yield from itertools.product(range(10, 100), repeat=2)
    elif op == "two-step":
        yield from ((a, b, c) for a, b, c in itertools.product(range(1, 10), repeat=3) if a + b >= c)
    else:
        raise TaskDataError(f"unknown arith op {op!r}")


LEVELS = {"add1": ("add1",), "sub1": ("sub1",), "mul1": ("mul1",), "add2": ("add2",),
          "two-step": ("two-step",), "single": ("add1", "sub1", "mul1"),
          "mixed": ("add1", "sub1", "mul1", "two-step")}


def split_of(op: str, operands: tuple[int, ...]) -> str:
    digest = hashlib.sha256(f"{op}:{operands}".encode()).digest()
    return "test" if digest[0] % TEST_SHARE == 0 else "train"


def _render(op: str, operands: tuple[int, ...], rng: random.Random) -> tuple[str, int]:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    if op in ("add1", "add2"):
        a, b = operands
        return f"{name} has {a} {item} and gets {b} more. How many {item} does {name} have now?", a + b
    if op == "sub1":
        a, b = operands
        return f"{name} has {a} {item} and gives away {b}. How many {item} does {name} have left?", a - b
    if op == "mul1":
        a, b = operands
        return f"{name} has {a} bags with {b} {item} in each bag. How many {item} does {name} have?", a * b
    a, b, c = operands
    return (f"{name} has {a} {item}, gets {b} more, then gives away {c}. How many {item} does {name} "
            f"have now?", a + b - c)


@dataclass
class ArithTask:
    """Seeded arithmetic word problems; graded by exact integer comparison."""

    level: str = "single"
    split: str = "test"
    n: int = 20
    seed: int = 0
    kind: str = "math"
    source: str = "embedded:arith"
    _rows: list[tuple[Problem, int]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise TaskDataError(f"arith level {self.level!r} unknown; choose from {', '.join(LEVELS)}")
        if self.split not in ("train", "test"):
            raise TaskDataError(f"arith split must be train or test, got {self.split!r}")

    @property
    def name(self) -> str:
        return "arith" if (self.level, self.split, self.n, self.seed) == ("single", "test", 20, 0) else \
            f"arith-{self.level}-{self.split}-n{self.n}-s{self.seed}"

    @property
    def version(self) -> str:
        return f"{ARITH_VERSION}-{self.grader().version}"

    def _load(self) -> list[tuple[Problem, int]]:
        if self._rows is None:
            pool = [(op, t) for op in LEVELS[self.level] for t in _tuples(op)
                    if split_of(op, t) == self.split]
            rng = random.Random(f"arith:{self.level}:{self.split}:{self.seed}")
            if self.n > len(pool):
                raise TaskDataError(f"arith {self.level}/{self.split} has only {len(pool)} distinct problems")
            chosen = rng.sample(pool, self.n)
            rows = []
            for op, operands in chosen:
                text, answer = _render(op, operands, rng)
                pid = f"arith-{op}-{'-'.join(map(str, operands))}"
                rows.append((Problem(pid, self.name, text, {"op": op, "operands": list(operands),
                                                            "split": self.split}), answer))
            self._rows = rows
        return self._rows

    def problems(self) -> list[Problem]:
        return [p for p, _ in self._load()]

    def references(self) -> dict[str, Reference]:
        return {p.id: Reference(p.id, str(answer)) for p, answer in self._load()}

    def grader(self) -> IntegerGrader:
        return IntegerGrader()

    def prompt(self, problem: Problem) -> str:
        return f"{problem.statement} Answer with a number."


def arith(settings: Settings | None = None, arg: str | None = None, **_: object) -> ArithTask:
    options: dict[str, object] = {}
    for part in filter(None, (arg or "").split(",")):
        key, _sep, value = part.partition("=")
        if key not in ("level", "split", "n", "seed") or not value:
            raise TaskDataError(f"arith option {part!r} not understood; use level=, split=, n=, seed=")
        options[key] = int(value) if key in ("n", "seed") else value
    return ArithTask(**options)  # type: ignore[arg-type]

