"""The `run` pipeline as one readable sequence (DESIGN.md section 4):

task -> pool -> grades (cached) -> for each selector: accuracy at each N -> run record
-> leaderboard refresh. The CLI only parses arguments into a RunConfig and calls `run`.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from harness.config import RunConfig, default_ns
from harness.environment import environment
from harness.evaluate import EvalOptions, NResult, evaluate_selectors
from harness.grades import GradeStats, load_or_grade
from harness.generate import GenerationConfig, generate_pool
from harness.judge_cache import JudgeCache
from harness.llm_eval import evaluate_llm
from harness.plugins import load_task, make_backend, make_selector
from harness.pools import Pool, PoolError, PoolMatch, PoolStore
from harness.selectors.base import ProblemPool
from harness.settings import Settings
from harness.store import RunRecord, new_run_id, write_run
from harness.types import Candidate, Grade, Problem


class GraderFailureError(RuntimeError):
    """Too many candidates could not be graded; scoring them as wrong would bias the results."""


@dataclass(frozen=True)
class RunOutcome:
    records: tuple[RunRecord, ...]
    pool: Pool
    match: PoolMatch
    grading: GradeStats

    def to_json(self) -> dict:
        return {"task": self.records[0].task, "pool": self.pool.ref,
                "pool_match": self.match.summary(), "grading": self.grading.to_json(),
                "runs": [{"selector": r.selector, "upper_bound": r.data["selector"]["upper_bound"],
                          "run_dir": str(r.path), "summary": r.summary} for r in self.records]}


def dense_clusters(labels: Sequence[object]) -> np.ndarray:
    """Cluster labels as 0..K-1 in first-appearance order, -1 for none (graders may use any ids)."""
    ids: dict[object, int] = {}
    return np.array([-1 if label is None else ids.setdefault(label, len(ids)) for label in labels], dtype=np.int64)


def build_problem_pools(problems: Sequence[Problem], candidates: Mapping[str, Sequence[Candidate]],
                        grades: Mapping[str, Sequence[Grade]]) -> tuple[list[ProblemPool], list[np.ndarray]]:
    """Selector inputs (clusters, scores) and, separately, correctness for scoring."""
    pools, correct = [], []
    for problem in problems:
        cands, gs = candidates[problem.id], grades[problem.id]
        score_names = sorted({name for c in cands for name in c.scores})
        scores = {name: np.array([np.nan if c.scores.get(name) is None else float(c.scores[name])
                                  for c in cands]) for name in score_names}
        clusters = dense_clusters([g.cluster for g in gs])
        pools.append(ProblemPool(problem=problem, clusters=clusters, scores=scores))
        correct.append(np.array([1.0 if g.correct else 0.0 for g in gs]))
    return pools, correct


def run(config: RunConfig, settings: Settings, log=None, *, generator_factory=None,
        judge_factory=None) -> RunOutcome:
    """The whole pipeline. The two factories let tests swap in scripted backends."""
    log = log or (lambda message: print(message, file=sys.stderr))
    task = load_task(config.task, settings, hub_id=config.hub_id)
    problems = task.problems()[:config.limit] if config.limit else task.problems()
    store = PoolStore(settings.pools_dir)
    if config.pool is None:
        samples = config.samples or max(config.ns or (8,))
        gen = GenerationConfig(model=config.model, backend=config.backend, n=samples, seed=config.gen_seed,
                               temperature=config.temperature, max_tokens=config.max_tokens)
        report = generate_pool(task, gen, store, problems=problems, backend_factory=generator_factory,
                               progress=config.progress)
        if report.generated:
            log(f"generated {report.generated} candidates ({report.truncated} truncated) into {report.pool.ref}")
        pool = report.pool
    else:
        pool = store.resolve(config.pool, task=task.name)

    candidates = pool.candidates()
    wanted = {p.id for p in problems}
    match = pool.match(problems, present=[pid for pid in candidates if not config.limit or pid in wanted])
    if match.only_in_pool or match.only_in_task or match.changed_statement:
        log(f"pool {pool.ref} vs task {task.name}: {match.describe()}")
    usable = [p for p in problems if p.id in candidates and p.id not in set(match.changed_statement)]
    if not usable:
        raise PoolError(f"pool {pool.ref} has no candidates for any problem of task {task.name} "
                        f"({match.describe()})")

    grader = task.grader()
    grades, grading = load_or_grade(pool, grader, usable, task.references(), candidates,
                                    workers=config.workers, progress=config.progress)
    n_candidates = sum(len(candidates[p.id]) for p in usable)
    if grading.errors > config.max_grader_error_rate * n_candidates:
        raise GraderFailureError(f"{grading.errors} of {n_candidates} candidates could not be graded "
                                 f"(limit {config.max_grader_error_rate:.0%}); see the grades file in {pool.path}")
    if grading.errors:
        log(f"warning: {grading.errors} grader failures (counted in the run summary, scored 0)")

    pools, correct = build_problem_pools(usable, candidates, grades)
    smallest = min(p.size for p in pools)
    if config.paper:
        ns = config.ns or (min(8, smallest),)
        if len(ns) != 1:
            raise ValueError(f"the paper protocol uses one fixed N, got {list(ns)}")
    else:
        ns = config.ns or default_ns(smallest)
    options = EvalOptions(draws=config.draws, seed=config.seed, max_enumerate=config.max_enumerate,
                          tie_credit=config.tie_credit, paper=config.paper, paper_runs=config.paper_runs,
                          resamples=config.resamples, progress=config.progress)
    env = environment()
    selectors = [_make_selector(name, config, settings, pool) for name in config.selectors]
    vector = [s for s in selectors if not getattr(s, "llm", False)]
    results = evaluate_selectors(vector, pools, correct, ns, options) if vector else {}
    extras: dict[str, tuple[list[dict], dict]] = {}
    texts = [[c.text for c in candidates[p.id]] for p in usable]
    for selector in (s for s in selectors if getattr(s, "llm", False)):
        cache = JudgeCache(settings.results_dir / "judge", selector.judge_spec())
        factory = judge_factory or (lambda s=selector: make_backend(s.judge_backend, s.judge_model, **s.backend_options))
        results[selector.name], selections, stats = evaluate_llm(
            selector, pools, texts, task.kind, correct, ns, options, config.llm_draws, cache, factory,
            chunk=config.judge_chunk or (64 if selector.judge_backend in ("hf", "llamacpp") else 1024),
            repeats=config.tournament_repeats)
        extras[selector.name] = (selections, stats.to_json())
        log(f"{selector.name}: {stats.calls} judge calls, {stats.cached} cached, "
            f"{stats.fallbacks}/{stats.windows_judged} parse failures (random fallback)")
    # Code graders report which sandbox isolation was in force (None if nothing ran this time).
    isolation = getattr(grader, "last_isolation", None)
    records = [_write_record(settings, config, task, pool, match, grading, selector, results[selector.name],
                             usable, {**env, "sandbox": isolation} if isolation else env, extras.get(selector.name),
                             grader)
               for selector in selectors]
    from harness.leaderboard import refresh_leaderboard

    refresh_leaderboard(settings)
    return RunOutcome(records=tuple(records), pool=pool, match=match, grading=grading)


def _make_selector(name: str, config: RunConfig, settings: Settings, pool: Pool):
    from harness.plugins import SELECTORS

    if not getattr(SELECTORS.get(name), "llm", False):
        return make_selector(name)
    options = {"judge_backend": config.judge_backend, "temperature": config.judge_temperature,
               "max_tokens": config.judge_max_tokens, "window": config.window}
    if name == "rl-genselect":
        return make_selector(name, judge_model=config.judge_model, results_dir=str(settings.results_dir), **options)
    judge = config.judge_model or (pool.spec.model if pool.spec.backend != "import" else None)
    if judge is None:
        raise ValueError(f"{name} needs a judge model: pool {pool.ref} was imported, so pass --judge-model")
    return make_selector(name, judge_model=judge, **options)


def _write_record(settings: Settings, config: RunConfig, task, pool: Pool, match: PoolMatch,
                  grading: GradeStats, selector, results: list[NResult], problems: Sequence[Problem],
                  env: dict, llm: tuple[list[dict], dict] | None, grader) -> RunRecord:
    record = {
        "run_id": new_run_id(),
        "created_unix": time.time(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "mode": "paper" if config.paper else "subsets",
        "selector": {**selector.describe(), "order_invariant": selector.order_invariant},
        "task": {"name": task.name, "version": task.version, "source": task.source,
                 "grader": grader.name, "grader_version": grader.version},
        "pool": {"ref": pool.ref, "key": pool.key, "label": pool.label, "spec": pool.spec.to_json()},
        "pool_match": match.summary(),
        "grading": grading.to_json(),
        "config": config.model_dump(mode="json"),
        "environment": env,
        "problems": len(problems),
        "summary": [r.to_json() for r in results],
    }
    if llm is not None:
        record["llm"] = llm[1]
    rows = ({"problem_id": p.id, "n": r.n, "accuracy": float(r.per_problem[i])}
            for r in results for i, p in enumerate(problems))
    return write_run(settings.runs_dir, record, rows, {"selections.jsonl": llm[0]} if llm else None)
