"""The task protocol: what every benchmark plugin provides.

A task is built from Settings (so it knows where local data lives) and exposes its problems,
its references (read only by its grader) and its grader. `version` must change whenever the
prompt, extraction or grading changes; it is recorded in pools, grades and run records, and
the leaderboard never mixes versions.
"""

from __future__ import annotations

from typing import Callable, Mapping, Protocol, Sequence, runtime_checkable

from harness.errors import DataError
from harness.types import Candidate, Grade, Problem, Reference


class TaskDataError(DataError, RuntimeError):
    """Task data could not be found or read; the message says how to point at local files."""


@runtime_checkable
class Grader(Protocol):
    name: str
    version: str  # part of the grades cache file name

    def grade(self, problems: Sequence[Problem], references: Mapping[str, Reference],
              candidates: Mapping[str, Sequence[Candidate]], *, workers: int = 0,
              progress: bool = True) -> dict[str, list[Grade]]:
        """Grades for every candidate, in index order per problem, with answer clusters filled."""
        ...


@runtime_checkable
class Task(Protocol):
    name: str
    version: str
    kind: str  # "math" or "code"
    source: str  # where the problems were read from, e.g. "local:/path" or "hub:Org/name"

    def problems(self) -> list[Problem]: ...

    def references(self) -> dict[str, Reference]: ...

    def grader(self) -> Grader: ...

    def prompt(self, problem: Problem) -> str: ...


# A task plugin is a factory: Settings (+ an optional argument after "name:") -> Task.
TaskFactory = Callable[..., Task]
