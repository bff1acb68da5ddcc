"""A scripted backend for orchestration tests (never a substitute for the real-model tier), and
hand-made selection tasks for the trainer tests."""

from __future__ import annotations

from typing import Callable, Sequence

from harness.backends.base import GenRequest, GenResult
from trainers.tasks_schema import SelectionTask


class ScriptedBackend:
    """Answers each request with script(request); records every batch it was sent."""

    name = "scripted"

    def __init__(self, script: Callable[[GenRequest], str], model: str = "scripted") -> None:
        self.model = model
        self.script = script
        self.batches: list[list[GenRequest]] = []
        self.closed = False

    def generate(self, requests: Sequence[GenRequest], *, progress: bool = True) -> list[GenResult]:
        self.batches.append(list(requests))
        return [GenResult(self.script(r), "stop", 10, 5) for r in requests]

    @property
    def calls(self) -> int:
        return sum(len(b) for b in self.batches)

    def close(self) -> None:
        self.closed = True


def selection_task(task_id: str, prompt: str, n_candidates: int,
                   correct_positions: Sequence[int]) -> SelectionTask:
    """A selection task from a prompt and its answer key; the other fields are plausible filler."""
    return SelectionTask(task_id=task_id, pool_key="fake", pool_ref="synthetic/fake/fake",
                         problem_id=task_id, task="synthetic", kind="math",
                         shown_indices=tuple(range(n_candidates)), correct_positions=tuple(correct_positions),
                         n_candidates=n_candidates, pass_rate=0.25, prompt_tokens=(len(prompt) + 3) // 4,
                         prompt_version="genselect_v1", prompt=prompt)
