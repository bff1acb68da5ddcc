"""Answering judge requests: the judge cache first, then one backend per judge, in chunks.

The estimator hands over every request of a round at once (across problems, N, draws and
selectors); requests are grouped by judge spec, answered from that judge's cache where possible,
deduplicated, and the rest sent to its backend in chunks so that the cache keeps every finished
call if the run is killed (the backend batches within a chunk). A backend is created only when
the first uncached request needs it, so a rerun of a finished experiment loads no model.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from harness.backends.base import GenRequest, GenResult
from harness.judge_cache import JudgeCache, request_key
from harness.shards import Shard
from harness.types import GenSpec

BackendFactory = Callable[[GenSpec, dict[str, Any]], Any]  # (judge spec, backend options) -> Backend


def default_chunk(backend: str) -> int:
    # CPU backends: one hf batch (16) a chunk, so the cache is written (and the progress bar
    # moves) every half minute or so; vLLM and servers want big batches.
    return 16 if backend in ("hf", "llamacpp") else 1024


def _registry_backend(spec: GenSpec, options: dict[str, Any]) -> Any:
    from harness.plugins import make_backend

    return make_backend(spec.backend, spec.model, **options)


@dataclass
class _Judge:
    cache: JudgeCache
    options: dict[str, Any]
    backend: Any = None
    calls: int = 0
    cached: int = 0


@dataclass
class Judging:
    """Judges of one run, keyed by spec; `close()` releases every backend it opened."""

    cache_root: Path
    backend_factory: BackendFactory = _registry_backend
    chunk: int | None = None  # None: default_chunk(backend)
    shard: Shard | None = None  # a sharded run caches its calls in a file of its own (harness.shards)
    _judges: dict[GenSpec, _Judge] = field(default_factory=dict)

    def _judge(self, spec: GenSpec, options: dict[str, Any]) -> _Judge:
        if spec not in self._judges:
            cache = JudgeCache(self.cache_root, spec.to_json(), self.shard)
            self._judges[spec] = _Judge(cache, dict(options))
        return self._judges[spec]

    def answer(self, spec: GenSpec, options: dict[str, Any], requests: Sequence[GenRequest],
               on_answered: Callable[[int], Any] | None = None) -> list[GenResult]:
        """Answers in request order: from the cache, else from the judge in chunks (each chunk
        committed to the cache at once, so a kill loses at most the one in flight).
        on_answered(k) is told as k more requests have their answer (progress)."""
        judge = self._judge(spec, options)
        missing = [r for r in requests if judge.cache.get(r) is None]
        judge.cached += len(requests) - len(missing)
        unique = list({request_key(r): r for r in missing}.values())
        tell = on_answered or (lambda k: None)
        tell(len(requests) - len(missing))
        waiting = Counter(request_key(r) for r in missing)  # duplicates are answered with their first
        size = self.chunk or default_chunk(spec.backend)
        for start in range(0, len(unique), size):
            if judge.backend is None:
                judge.backend = self.backend_factory(spec, judge.options)
            part = unique[start:start + size]
            results = judge.backend.generate(part, progress=False)
            judge.cache.put_many(list(zip(part, results)))
            judge.calls += len(results)
            tell(sum(waiting[request_key(r)] for r in part))
        answers = judge.cache.get_many(requests)
        assert all(a is not None for a in answers)
        return answers  # type: ignore[return-value]

    def counts(self, spec: GenSpec) -> tuple[int, int]:
        """(calls sent, requests answered from the cache) for one judge."""
        judge = self._judges.get(spec)
        return (judge.calls, judge.cached) if judge else (0, 0)

    def close(self) -> None:
        for judge in self._judges.values():
            if judge.backend is not None:
                judge.backend.close()
                judge.backend = None
