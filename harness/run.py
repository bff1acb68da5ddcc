"""The `run` pipeline as one readable sequence (DESIGN.md section 4):

task -> pool -> grades (cached) -> for each selector: accuracy at each N -> run record
-> leaderboard refresh. The CLI only parses arguments into a RunConfig and calls `run`.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Literal, Mapping, Sequence

import numpy as np

from harness.config import RunConfig, default_ns
from harness.environment import environment
from harness.errors import ConfigError, GraderFailureError
from harness.evaluate import Estimate, EvalOptions, estimate
from harness.generate import GenerationConfig, generate_pool
from harness.grades import GradeStats, load_or_grade
from harness.grading.math_answers import unfinished_thinking
from harness.judging import Judging
from harness.plugins import load_task
from harness.pools import Pool, PoolError, PoolMatch, PoolStore
from harness.records import CandidateCounts, PoolInfo, ProblemRow, RunData, TaskInfo
from harness.selectors.base import ProblemPool, SelectorSetup
from harness.selectors.protocols import protocol
from harness.settings import Settings
from harness.shards import Shard
from harness.store import RunRecord, new_run_id, write_run
from harness.types import Candidate, Grade, Problem

__all__ = ["GraderFailureError", "RunOutcome", "build_selector", "run"]


@dataclass(frozen=True)
class RunOutcome:
    records: tuple[RunRecord, ...]
    pool: Pool
    match: PoolMatch
    grading: GradeStats

    def to_json(self) -> dict:
        return {"task": self.records[0].task, "pool": self.pool.ref,
                "pool_match": self.match.summary(), "grading": self.grading.to_json(),
                "runs": [{"selector": r.selector, "label": r.info.selector.label(),
                          "upper_bound": r.info.selector.upper_bound, "run_dir": str(r.path),
                          "summary": [p.model_dump() for p in r.summary]} for r in self.records]}


def dense_clusters(labels: Sequence[object]) -> np.ndarray:
    """Cluster labels as 0..K-1 in first-appearance order, -1 for none (graders may use any ids)."""
    ids: dict[object, int] = {}
    return np.array([-1 if label is None else ids.setdefault(label, len(ids)) for label in labels],
                    dtype=np.int64)


def build_problem_pools(problems: Sequence[Problem], candidates: Mapping[str, Sequence[Candidate]],
                        grades: Mapping[str, Sequence[Grade]], kind: str = "math", rules: str = "harness"
                        ) -> tuple[list[ProblemPool], list[np.ndarray]]:
    """Selector inputs (texts, clusters by the protocol's rule, scores) and, separately, correctness."""
    counting = protocol(rules)
    pools, correct = [], []
    for problem in problems:
        cands, gs = candidates[problem.id], grades[problem.id]
        score_names = sorted({name for c in cands for name in c.scores})
        scores = {name: np.array([np.nan if c.scores.get(name) is None else float(c.scores[name])
                                  for c in cands]) for name in score_names}
        clusters = dense_clusters(counting.clusters(kind, [c.text for c in cands], [g.cluster for g in gs]))
        gen_tokens = np.array([np.nan if c.completion_tokens is None else float(c.completion_tokens)
                               for c in cands])
        pools.append(ProblemPool(problem=problem, clusters=clusters, scores=scores,
                                 texts=tuple(c.text for c in cands), kind=kind, gen_tokens=gen_tokens))
        correct.append(np.array([1.0 if g.correct else 0.0 for g in gs]))
    return pools, correct


def run(config: RunConfig, settings: Settings, log=None, *, generator_factory=None,
        judge_factory=None, refresh_leaderboard: bool = True) -> RunOutcome:
    """The whole pipeline. The two factories let tests swap in scripted backends; a command that
    runs several times (compare) refreshes the leaderboard once at the end instead."""
    log = log or (lambda message: print(message, file=sys.stderr))
    task = load_task(config.task, settings, hub_id=config.hub_id)
    problems = task.problems()[:config.limit] if config.limit else task.problems()
    shard = Shard.parse(config.shard)
    if shard is not None:
        problems = shard.select(problems)
    pool = _pool(config, settings, task, problems, generator_factory, log, shard)
    candidates, duplicates = pool.read_candidates()
    if duplicates:
        log(f"pool {pool.ref}: {duplicates} duplicated (problem, index) lines ignored (the first is kept)")
    match, usable = _usable_problems(config, task, pool, problems, candidates, log)
    grader = task.grader()
    grades, grading = _grade(config, pool, grader, task, usable, candidates, log, shard)

    pools, correct = build_problem_pools(usable, candidates, grades, task.kind, protocol_of(config))
    ns = _ns(config, min(p.size for p in pools))
    options = EvalOptions(draws=config.draws, seed=config.seed, max_enumerate=config.max_enumerate,
                          tie_credit=config.tie_credit, paper=config.paper, paper_runs=config.paper_runs,
                          resamples=config.resamples, progress=config.progress, llm_draws=config.llm_draws)
    setup = selector_setup(config, settings, pool)
    selectors = [build_selector(name, setup) for name in config.selectors]
    judging = Judging(settings.results_dir / "judge", chunk=config.judge_chunk, shard=shard)
    if judge_factory is not None:
        judging.backend_factory = lambda spec, options: judge_factory()
    try:
        estimates = estimate(selectors, pools, correct, ns, options, judging)
    finally:
        judging.close()
    for selector in selectors:
        stats = estimates[selector.name].judge
        if stats is not None:
            log(f"{selector.name}: {stats.calls} judge calls, {stats.cached} cached, "
                f"{stats.fallbacks}/{stats.windows_judged} parse failures (random fallback)")
    if shard is not None:  # a slice's numbers are no result: its grades and judge calls are cached
        log(f"shard {shard.index}/{shard.count}: {len(usable)} problems graded ({grading.graded} new) and "
            "judged; no record written. Run without --shard to score them all.")
        return RunOutcome(records=(), pool=pool, match=match, grading=grading)
    # Code graders report which sandbox isolation was in force (None if nothing ran this time).
    isolation = getattr(grader, "last_isolation", None)
    env = {**environment(), "sandbox": isolation} if isolation else environment()
    records = [_write_record(settings, config, task, pool, match, grading, selector, estimates[selector.name],
                             usable, env, grader, candidates) for selector in selectors]
    if refresh_leaderboard:
        from harness.leaderboard import refresh_leaderboard as refresh

        refresh(settings)
    return RunOutcome(records=tuple(records), pool=pool, match=match, grading=grading)


def _pool(config: RunConfig, settings: Settings, task, problems, generator_factory, log,
          shard: Shard | None = None) -> Pool:
    """The named pool, or the pool of (task, --model), generated where it lacks candidates."""
    store = PoolStore(settings.pools_dir)
    if config.pool is not None:
        return store.resolve(config.pool, task=task.name)
    if config.model is None:
        raise PoolError(no_pool_message(task.name, store))
    samples = config.samples or max(config.ns or (8,))
    gen = GenerationConfig(model=config.model, backend=config.backend, n=samples, seed=config.gen_seed,
                           temperature=config.temperature, max_tokens=config.max_tokens)
    report = generate_pool(task, gen, store, problems=problems, backend_factory=generator_factory,
                           progress=config.progress, shard=shard)
    if report.generated:
        log(f"generated {report.generated} candidates ({report.truncated} truncated) into {report.pool.ref}")
    return report.pool


def no_pool_message(task: str, store: PoolStore) -> str:
    """What to do when a run names neither --pool nor --model: the task's pools, and how to get one."""
    pools = store.all(task)
    have = (f"pools for {task}: {', '.join(p.ref for p in pools)}; pass one with --pool REF"
            if pools else f"no pool exists for {task} under {store.root}")
    return (f"give --pool or --model: {have}. To get a pool, either import generations made elsewhere "
            f"(`python -m harness pool import --task {task} FILES...`: our JSONL, NeMo-Skills "
            f"output-rs*.jsonl or lm-eval samples) or generate one (`python -m harness run --task {task} "
            f"--model MODEL ...`, or `python -m harness generate --task {task} --model MODEL`)")


def _usable_problems(config: RunConfig, task, pool: Pool, problems, candidates, log):
    wanted = {p.id for p in problems}
    match = pool.match(problems, present=[pid for pid in candidates if not config.limit or pid in wanted])
    if match.only_in_pool or match.only_in_task or match.changed_statement:
        log(f"pool {pool.ref} vs task {task.name}: {match.describe()}")
    usable = [p for p in problems if p.id in candidates and p.id not in set(match.changed_statement)]
    if not usable:
        raise PoolError(f"pool {pool.ref} has no candidates for any problem of task {task.name} "
                        f"({match.describe()})")
    return match, usable


def _grade(config: RunConfig, pool: Pool, grader, task, usable, candidates, log, shard: Shard | None = None):
    fanout = None
    if config.ray:
        from harness.fanout import RayFanout

        fanout = RayFanout(config.ray)
        log(f"grading on the Ray cluster at {config.ray} ({fanout.nodes()} node(s))")
    grades, grading = load_or_grade(pool, grader, usable, task.references(), candidates,
                                    workers=config.workers, progress=config.progress, shard=shard,
                                    fanout=fanout)
    n_candidates = sum(len(candidates[p.id]) for p in usable)
    if grading.dropped_lines:
        log(f"warning: {grading.dropped_lines} unreadable lines dropped from the grades cache of "
            f"{pool.ref}; their candidates were graded again")
    if grading.errors > config.max_grader_error_rate * n_candidates:
        raise GraderFailureError(f"{grading.errors} of {n_candidates} candidates could not be graded "
                                 f"(limit {config.max_grader_error_rate:.0%}); "
                                 f"see the grades file in {pool.path}")
    if grading.errors:
        log(f"warning: {grading.errors} grader failures (counted in the run summary, scored 0)")
    return grades, grading


def _ns(config: RunConfig, smallest: int) -> tuple[int, ...]:
    if not config.paper:
        return config.ns or default_ns(smallest)
    ns = config.ns or (min(8, smallest),)
    if len(ns) != 1:
        raise ConfigError(f"the paper protocol uses one fixed N, got --n {','.join(map(str, ns))}")
    return ns


def selector_setup(config: RunConfig, settings: Settings, pool: Pool) -> SelectorSetup:
    """The run-level options any selector may take; the default judge is the pool's generator."""
    return SelectorSetup(judge_model=config.judge_model, checkpoint=config.checkpoint,
                         default_judge=pool.spec.model if pool.spec.backend != "import" else None,
                         judge_backend=config.judge_backend, judge_temperature=config.judge_temperature,
                         judge_max_tokens=config.judge_max_tokens, window=config.window,
                         tournament_repeats=config.tournament_repeats, results_dir=str(settings.results_dir),
                         protocol=protocol_of(config))


def protocol_of(config: RunConfig) -> Literal["harness", "nemo-skills"]:
    """The selection rules: as given, else NeMo-Skills' for the paper protocol, the harness's otherwise."""
    return config.protocol or ("nemo-skills" if config.paper else "harness")


def build_selector(name: str, setup: SelectorSetup):
    """A registered selector, built from the run's options when it takes any (`from_setup`)."""
    from harness.plugins import SELECTORS

    cls = SELECTORS.get(name)
    return cls.from_setup(setup) if hasattr(cls, "from_setup") else cls()


def candidate_counts(candidates: Mapping[str, Sequence[Candidate]],
                     problems: Sequence[Problem]) -> CandidateCounts:
    shown = [c for p in problems for c in candidates[p.id]]
    return CandidateCounts(total=len(shown), truncated=sum(c.finish_reason == "length" for c in shown),
                           unfinished_thinking=sum(unfinished_thinking(c.text) for c in shown))


def _write_record(settings: Settings, config: RunConfig, task, pool: Pool, match: PoolMatch,
                  grading: GradeStats, selector, result: Estimate, problems: Sequence[Problem],
                  env: dict, grader, candidates: Mapping[str, Sequence[Candidate]]) -> RunRecord:
    created = time.time()
    data = RunData(
        run_id=new_run_id(), created_unix=created,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
        mode="paper" if config.paper else "subsets", protocol=protocol_of(config), selector=selector.info(),
        task=TaskInfo(name=task.name, version=task.version, source=task.source, grader=grader.name,
                      grader_version=grader.version, spec=config.task),
        pool=PoolInfo(ref=pool.ref, key=pool.key, label=pool.label, spec=pool.spec),
        pool_match=match.summary(), grading=grading.to_json(), config=config.model_dump(mode="json"),
        environment=env, problems=len(problems), candidates=candidate_counts(candidates, problems),
        summary=tuple(r.point() for r in result.results),
        llm=result.judge)
    rows = (ProblemRow(problem_id=p.id, n=r.n, accuracy=float(r.per_problem[i]))
            for r in result.results for i, p in enumerate(problems))
    return write_run(settings.runs_dir, data, rows,
                     {"selections.jsonl": result.selections} if selector.asks else None)
