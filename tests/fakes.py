"""A scripted backend for orchestration tests (never a substitute for the real-model tier)."""

from __future__ import annotations

from typing import Callable, Sequence

from harness.backends.base import GenRequest, GenResult


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
