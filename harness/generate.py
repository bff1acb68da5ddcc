"""Candidate generation into pools: seeded per candidate, resumable, zero calls when complete.

Candidate (problem p, index i) is always sampled with seed = hash(spec seed, p, i), so the same
backend gives the same text however the work was batched or resumed. Results are appended to
the pool after every chunk; a run killed at any point restarts, finds what is there, and
generates only the missing (problem, index) pairs, so the pool ends complete and duplicate-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from harness.backends.base import GenRequest, SamplingParams
from harness.grading.math_answers import final_segment
from harness.models import preset, resolve_spec, sampling_params
from harness.pools import Pool, PoolStore
from harness.progress import progress_bar
from harness.shards import Shard
from harness.types import Candidate, GenSpec, Problem, stable_hash


@dataclass(frozen=True)
class GenerationConfig:
    model: str
    backend: str = "hf"
    n: int = 8
    seed: int = 0
    temperature: float | None = None  # None: the model preset's default
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    backend_options: tuple[tuple[str, Any], ...] = ()
    chunk: int = 32  # requests per append; bounds what a kill can lose

    def sampling(self) -> SamplingParams:
        return sampling_params(self.spec(None))

    def spec(self, prompt_version: str | None) -> GenSpec:
        return resolve_spec(self.model, self.backend, prompt_version, temperature=self.temperature,
                            top_p=self.top_p, top_k=self.top_k, max_tokens=self.max_tokens, seed=self.seed)


@dataclass(frozen=True)
class GenerationReport:
    pool: Pool
    requested: int
    generated: int
    already_present: int
    truncated: int


def candidate_seed(base: int, problem_id: str, index: int) -> int:
    return int(stable_hash([base, problem_id, index], 12), 16)


def build_request(task, problem: Problem, index: int, config: GenerationConfig,
                  params: SamplingParams) -> GenRequest:
    content = task.prompt(problem)
    seed = candidate_seed(config.seed, problem.id, index)
    model = preset(config.model)
    if model.chat:
        return GenRequest(seed=seed, params=params, messages=(("user", content),), tag=(problem.id, index))
    if model.template is not None:  # a base model: the preset's few-shot frame around the prompt
        content = model.template.format(prompt=content)
    return GenRequest(seed=seed, params=params, prompt=content, tag=(problem.id, index))


def generate_pool(task, config: GenerationConfig, store: PoolStore, *,
                  problems: Sequence[Problem] | None = None, backend_factory: Callable[[], Any] | None = None,
                  progress: bool = True, shard: Shard | None = None) -> GenerationReport:
    """Make sure the pool for (task, config) holds config.n candidates for every problem given
    (default: the task's; with `shard`, the shard's slice of them). A shard's candidates go to
    its own file (harness.shards)."""
    if problems is None:
        problems = task.problems() if shard is None else shard.select(task.problems())
    problems = list(problems)
    pool = store.create(task.name, config.spec(task.version), task.problems(), label=config.model,
                        meta={"backend_options": dict(config.backend_options)})
    have = pool.candidates()
    params = config.sampling()
    have_index = {pid: {c.index for c in cands} for pid, cands in have.items()}
    todo = [(p, i) for p in problems for i in range(config.n) if i not in have_index.get(p.id, set())]
    present = len(problems) * config.n - len(todo)
    if not todo:
        return GenerationReport(pool, len(problems) * config.n, 0, present, 0)
    if backend_factory is None:
        from harness.plugins import make_backend

        def backend_factory():
            return make_backend(config.backend, config.model, **dict(config.backend_options))
    backend = backend_factory()  # only now: a complete pool never loads a model
    generated = truncated = 0
    try:
        with progress_bar(total=len(todo), desc=f"candidates[{config.model}]", unit="cand",
                          enabled=progress) as bar:
            for start in range(0, len(todo), config.chunk):
                chunk = todo[start:start + config.chunk]
                requests = [build_request(task, p, i, config, params) for p, i in chunk]
                results = backend.generate(requests, progress=False)
                cands = [_candidate(req, res) for req, res in zip(requests, results)]
                generated += pool.append(cands, shard=shard)
                truncated += sum(c.finish_reason == "length" for c in cands)
                bar.update(len(chunk))
    finally:
        backend.close()
    return GenerationReport(pool, len(problems) * config.n, generated, present, truncated)


def _candidate(request: GenRequest, result) -> Candidate:
    problem_id, index = request.tag
    final = final_segment(result.text)
    return Candidate(problem_id=problem_id, index=index, text=result.text, finish_reason=result.finish_reason,
                     prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
                     seed=request.seed,
                     # The reasoning/final split at the last </think> (the final part is what
                     # graders and selectors read).
                     metadata={"reasoning_chars": len(result.text) - len(final)})
