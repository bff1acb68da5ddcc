"""The evaluation-task guard: training problems that belong to a benchmark are refused by name.

Every evaluation task (AIME24/25, HMMT25, LiveCodeBench, the arith test split) is loaded through
the harness registry, offline first; a training problem with the same id or the same normalised
statement, or one that a task's `held_out` hook claims, stops the build with the full list.
"""

from __future__ import annotations

import contextlib
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from harness.errors import DataError
from harness.types import Problem

DEFAULT_EVAL_TASKS = ("aime24", "aime25", "hmmt25", "livecodebench")


class EvalContaminationError(DataError, ValueError):
    """Training problems that belong to an evaluation task (the message lists them)."""

    def __init__(self, hits: Sequence[tuple[str, str, str]]) -> None:
        self.hits = list(hits)
        lines = [f"  {pid} (task {task}): {why}" for pid, task, why in self.hits[:50]]
        more = f"\n  ... and {len(self.hits) - 50} more" if len(self.hits) > 50 else ""
        super().__init__(
            f"refusing to build training data: {len(self.hits)} problem(s) belong to an evaluation task.\n"
            + "\n".join(lines) + more
            + "\nTrain on problems that no benchmark uses (e.g. arith split=train), or remove these "
              "from the pool.")


# -- the evaluation-task guard ---------------------------------------------------------------

def normalise_statement(text: str) -> str:
    """Lowercase letters and digits only: immune to whitespace, markdown and LaTeX spacing."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    return re.sub(r"[^0-9a-z]+", "", text)


def held_out(problem: Problem, tasks: Iterable[str] = ("arith",)) -> tuple[str, str] | None:
    """(label, reason) when a task's `held_out` hook claims the problem (e.g. the arith test split).

    The hooks come from the task registry (a task factory may carry `held_out(problem)`), so the
    trainers never import a task module themselves.
    """
    from harness.plugins import TASKS

    for name in tasks:
        if name not in TASKS:
            continue
        hook = getattr(TASKS.get(name), "held_out", None)
        verdict = hook(problem) if hook is not None else None
        if verdict is not None:
            return verdict
    return None


def hub_reachable(timeout: float = 3.0) -> bool:
    """One quick connection attempt, so an offline machine does not sit through the hub's retries."""
    import socket

    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


_OFFLINE_LOCK = threading.RLock()


@contextlib.contextmanager
def hub_offline():
    """Hugging Face hub lookups fail at once inside this block (local files and caches still load).

    huggingface_hub and datasets read HF_HUB_OFFLINE once, at import, into module constants; this
    sets those constants for the duration of the block and restores them on exit, under a lock.
    The process environment is never touched, so nothing leaks into later imports or children.
    """
    import importlib

    flags = []
    for module_name, names in (("huggingface_hub.constants", ("HF_HUB_OFFLINE",)),
                               ("datasets.config", ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        flags += [(module, name) for name in names if hasattr(module, name)]
    with _OFFLINE_LOCK:
        saved = [(module, name, getattr(module, name)) for module, name in flags]
        try:
            for module, name in flags:
                setattr(module, name, True)
            yield
        finally:
            for module, name, value in saved:
                setattr(module, name, value)


@dataclass
class EvalGuard:
    """Ids and normalised statements of the evaluation tasks, plus the arith test-split rule."""

    ids: dict[str, str] = field(default_factory=dict)  # problem id -> eval task
    statements: dict[str, str] = field(default_factory=dict)  # normalised statement -> eval task
    checked: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)  # eval task -> why it could not be loaded

    @classmethod
    def load(cls, settings=None, tasks: Iterable[str] = DEFAULT_EVAL_TASKS) -> "EvalGuard":
        """Load each evaluation task through the registry: offline first (local data or the hub
        cache answer at once), then from the hub if it is reachable (checked once, only if needed)."""
        from harness.plugins import load_task
        from harness.settings import Settings

        settings = settings or Settings.resolve()
        guard = cls()
        online: bool | None = None
        for name in tasks:
            try:
                with hub_offline():
                    problems = load_task(name, settings).problems()
            except Exception as exc:  # not available offline: try the hub, if there is one
                online = hub_reachable() if online is None else online
                problems, failure = None, exc
                if online:
                    try:
                        problems = load_task(name, settings).problems()
                    except Exception as hub_exc:
                        failure = hub_exc
                if problems is None:  # no local data and no hub: say so, never pretend it was checked
                    first_line = str(failure).splitlines()[0][:200] if str(failure) else ""
                    guard.unavailable[name] = f"{type(failure).__name__}: {first_line}"
                    continue
            guard.add(name, problems)
        guard.checked.append("arith:test-split")
        return guard

    def add(self, task: str, problems: Iterable[Problem]) -> None:
        for p in problems:
            self.ids.setdefault(p.id, task)
            key = normalise_statement(p.statement)
            if len(key) >= 20:  # very short statements are not distinctive
                self.statements.setdefault(key, task)
        if task not in self.checked:
            self.checked.append(task)

    def why(self, problem: Problem) -> tuple[str, str] | None:
        if problem.id in self.ids:
            return self.ids[problem.id], "same problem id"
        key = normalise_statement(problem.statement)
        if key in self.statements:
            return self.statements[key], "same statement (normalised)"
        return held_out(problem)

    def check(self, problems: Iterable[Problem]) -> None:
        hits = []
        for p in problems:
            why = self.why(p)
            if why is not None:
                hits.append((p.id, why[0], why[1]))
        if hits:
            raise EvalContaminationError(hits)

    def describe(self) -> dict[str, Any]:
        return {"checked": list(self.checked), "unavailable": dict(self.unavailable),
                "ids": len(self.ids), "statements": len(self.statements)}
