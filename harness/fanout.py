"""Fan grading out over a Ray cluster (the engine verl runs on): `run --ray ADDRESS`.

LiveCodeBench at 64 candidates x private tests is hundreds of thousands of sandboxed
executions; one machine's cores are not enough. With a Ray address, the grades cache's chunks
of whole problems (harness.grades.CHUNK_CANDIDATES) become Ray tasks, one per chunk, run by the
workers on every node with the task's own grader (the same code as on one machine, sandbox
included); the driver appends each chunk's rows to the one append-only grades file as its task
finishes, so a killed driver loses only the chunks still in flight and a rerun grades only what
is missing. Workers need the harness installed (or the repository on a shared file system)
and the task's data where the grader reads it.

ADDRESS: "auto" (the cluster this node belongs to: `ray start --head` ran here), "local" (a
one-node cluster started for the run), or "host:port" / "ray://host:10001".
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

from harness.errors import MissingPrerequisiteError
from harness.types import Candidate, Grade, Problem, Reference


def _ray():
    try:
        import ray
    except ImportError as exc:
        raise MissingPrerequisiteError.package("ray", "ray",
                                               purpose="fanning grading out over a Ray cluster") from exc
    return ray


class RayFanout:
    """A connection to a Ray cluster; `grade_chunks` yields each chunk's grades as its task ends."""

    def __init__(self, address: str) -> None:
        ray = _ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "configure_logging": False}
            if address == "local":
                ray.init(**kwargs)
            else:
                ray.init(address=address, **kwargs)
        self.ray = ray
        self._remote = ray.remote(_grade_chunk)

    def grade_chunks(self, grader: Any, chunks: Sequence[Sequence[Problem]],
                     references: Mapping[str, Reference], candidates: Mapping[str, Sequence[Candidate]],
                     workers: int = 0) -> Iterator[tuple[int, dict[str, list[Grade]]]]:
        """(chunk index, grades per problem) in completion order, one Ray task per chunk."""
        pending = {}
        for index, chunk in enumerate(chunks):
            refs = {p.id: references[p.id] for p in chunk}
            cands = {p.id: list(candidates[p.id]) for p in chunk}
            task = self._remote.options(num_cpus=max(1, workers or 1))
            pending[task.remote(grader, list(chunk), refs, cands, workers)] = index
        while pending:
            done, _ = self.ray.wait(list(pending), num_returns=1)
            for ref in done:
                yield pending.pop(ref), self.ray.get(ref)

    def nodes(self) -> int:
        return sum(1 for node in self.ray.nodes() if node.get("Alive"))


def _grade_chunk(grader: Any, problems: list[Problem], references: dict[str, Reference],
                 candidates: dict[str, list[Candidate]], workers: int) -> dict[str, list[Grade]]:
    """Runs on a Ray worker: the task's own grader on one chunk of whole problems."""
    return grader.grade(problems, references, candidates, workers=workers, progress=False)
