"""Evaluating LLM selectors (GenSelect and friends): batched, cached, knockout tournaments.

A *job* is one selection: (problem, N, draw, ordered candidates). All jobs advance together
round by round; in each round every window that needs the judge becomes one request, and all
requests of the round across problems, N and draws go to the backend in a single batch
(after the judge cache has answered what it can). Windows whose candidates all share one answer
cluster are decided without a call. A parse failure falls back to a uniformly random member of
the window, counted and recorded. The final round's choice is scored exactly: a fallback or a
one-cluster window spreads its credit evenly over the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from harness.backends.base import GenRequest, SamplingParams
from harness.estimators import bootstrap_ci
from harness.evaluate import EvalOptions, NResult, _Subsets, problem_stream
from harness.judge_cache import JudgeCache
from harness.progress import progress_bar
from harness.selectors.base import ProblemPool
from harness.selectors.genselect import candidate_view
from harness.selectors.judgment import parse_judgment
from harness.types import stable_hash


@dataclass
class Job:
    problem: int  # index into pools
    n: int
    draw: int
    order: list[int]  # candidate indices in the order shown
    rep: int = 0  # which repetition of a tournament (N > window, tournament_repeats > 1)
    alive: list[int] = field(default_factory=list)
    weights: dict[int, float] = field(default_factory=dict)  # final choice distribution
    calls: list[dict] = field(default_factory=list)
    fallbacks: int = 0
    skipped: int = 0
    round: int = 0

    @property
    def done(self) -> bool:
        return bool(self.weights)


@dataclass(frozen=True)
class LLMStats:
    calls: int  # judge requests sent to the model in this run
    cached: int  # requests answered by the judge cache
    skipped_windows: int  # windows decided without a call (one answer cluster)
    fallbacks: int  # parse failures replaced by a random pick
    windows_judged: int
    completion_tokens: int

    def to_json(self) -> dict:
        rate = self.fallbacks / self.windows_judged if self.windows_judged else 0.0
        return {"calls": self.calls, "cached": self.cached, "skipped_windows": self.skipped_windows,
                "fallbacks": self.fallbacks, "windows_judged": self.windows_judged,
                "parse_failure_rate": rate, "completion_tokens": self.completion_tokens}


def _windows(alive: list[int], size: int) -> list[list[int]]:
    count = -(-len(alive) // size)
    base, extra = divmod(len(alive), count)
    out, start = [], 0
    for w in range(count):
        end = start + base + (1 if w < extra else 0)
        out.append(alive[start:end])
        start = end
    return out


def evaluate_llm(selector, pools: Sequence[ProblemPool], texts: Sequence[Sequence[str]], kind: str,
                 correct: Sequence[np.ndarray], ns: Sequence[int], options: EvalOptions, draws: int,
                 cache: JudgeCache, backend_factory: Callable[[], object],
                 chunk: int = 64, repeats: int = 1) -> tuple[list[NResult], list[dict], LLMStats]:
    jobs: list[Job] = []
    subsets = [_Subsets(pool, options) for pool in pools]
    for n in ns:
        for i in range(len(pools)):
            orders = subsets[i].paper(n, options.paper_runs) if options.paper else subsets[i].sampled(n)[:draws]
            for d, order in enumerate(orders):
                order = [int(x) for x in order]
                # A knockout (N > window) is repeated under random permutations of the same
                # candidates; the winners then vote (GenSelect's "majority over winners").
                reps = repeats if n > selector.window else 1
                rng = np.random.default_rng([options.seed, problem_stream(pools[i].problem.id), n, d])
                for r in range(reps):
                    shown = order if r == 0 else [order[k] for k in rng.permutation(n)]
                    jobs.append(Job(problem=i, n=n, draw=d, order=shown, alive=list(shown), rep=r))
    params = SamplingParams(**selector.sampling())
    backend = None
    sent = cached = skipped = fallbacks = judged = tokens = 0
    try:
        with progress_bar(total=len(jobs), desc=f"{selector.name}", unit="sel", enabled=options.progress) as bar:
            while True:
                live = [job for job in jobs if not job.done]
                if not live:
                    break
                pending: list[tuple[Job, list[int], bool, GenRequest]] = []
                for job in live:
                    windows = _windows(job.alive, selector.window)
                    final = len(windows) == 1
                    winners: list[int | None] = []
                    for w, window in enumerate(windows):
                        decided = _decide_without_call(job, pools[job.problem], window, final)
                        if decided is not None:
                            skipped += decided == "skip"
                            winners.append(window[0])
                            continue
                        pool = pools[job.problem]
                        shown = [candidate_view(texts[job.problem][c], kind, selector.max_chars) for c in window]
                        prompt = selector.build_prompt(pool.problem.statement, shown)
                        seed = int(stable_hash([options.seed, pool.problem.id, job.n, job.draw, job.rep, job.round, w], 12), 16)
                        request = GenRequest(seed=seed, params=params, messages=(("user", prompt),),
                                             tag=(id(job), w))
                        pending.append((job, window, final, request))
                        winners.append(None)
                    job.alive = winners  # None = waiting for the judge
                # One batch for the whole round: cache first, then the model for the rest.
                missing = [req for _, _, _, req in pending if cache.get(req) is None]
                cached += len(pending) - len(missing)
                missing = _unique(missing)
                for start in range(0, len(missing), chunk):
                    # One logical batch, handed over in chunks so that the cache keeps every
                    # finished call if the run is killed (the backend batches within a chunk).
                    if backend is None:
                        backend = backend_factory()
                    part = missing[start:start + chunk]
                    results = backend.generate(part, progress=False)
                    cache.put_many(list(zip(part, results)))
                    sent += len(results)
                for job, window, final, request in pending:
                    result = cache.get(request)
                    judged += 1
                    tokens += result.completion_tokens or 0
                    choice = parse_judgment(result.text, len(window))
                    job.calls.append({"round": job.round, "window": window, "seed": request.seed,
                                      "raw": result.text, "parsed": choice})
                    slot = job.alive.index(None)
                    if choice is None:
                        job.fallbacks += 1
                        fallbacks += 1
                        if final:
                            job.weights = {c: 1.0 / len(window) for c in window}
                        rng = np.random.default_rng([request.seed % (2**32), 17])
                        job.alive[slot] = window[int(rng.integers(len(window)))]
                    else:
                        job.alive[slot] = window[choice]
                        if final:
                            job.weights = {window[choice]: 1.0}
                for job in live:
                    job.round += 1
                    if not job.done and len(job.alive) == 1:
                        job.weights = {job.alive[0]: 1.0}
                    if job.done:
                        bar.update(1)
    finally:
        if backend is not None:
            backend.close()
    stats = LLMStats(calls=sent, cached=cached, skipped_windows=skipped, fallbacks=fallbacks,
                     windows_judged=judged, completion_tokens=tokens)
    jobs = _vote_over_repeats(jobs, pools)
    return _score(jobs, pools, correct, ns, options), _selections(jobs, pools), stats


def _vote_over_repeats(jobs: list[Job], pools: Sequence[ProblemPool]) -> list[Job]:
    """Merge the repetitions of each selection: the winners' answer clusters vote (weighted by
    each repetition's choice distribution); tied clusters share the mass, and within a cluster
    the candidates that won share it in proportion to how often they won."""
    groups: dict[tuple[int, int, int], list[Job]] = {}
    for job in jobs:
        groups.setdefault((job.problem, job.n, job.draw), []).append(job)
    merged = []
    for (problem, _, _), reps in groups.items():
        if len(reps) == 1:
            merged.append(reps[0])
            continue
        clusters = pools[problem].clusters
        votes: dict[object, dict[int, float]] = {}
        for rep in reps:
            for cand, weight in rep.weights.items():
                key = int(clusters[cand]) if clusters[cand] >= 0 else ("alone", cand)
                votes.setdefault(key, {}).setdefault(cand, 0.0)
                votes[key][cand] += weight
        totals = {key: sum(members.values()) for key, members in votes.items()}
        best = max(totals.values())
        winners = [key for key, total in totals.items() if abs(total - best) < 1e-12]
        weights: dict[int, float] = {}
        for key in winners:
            for cand, weight in votes[key].items():
                weights[cand] = weights.get(cand, 0.0) + weight / (totals[key] * len(winners))
        head = reps[0]
        merged.append(Job(problem=head.problem, n=head.n, draw=head.draw, order=head.order, weights=weights,
                          calls=[call for rep in reps for call in rep.calls],
                          fallbacks=sum(rep.fallbacks for rep in reps), skipped=sum(rep.skipped for rep in reps)))
    return merged


def _decide_without_call(job: Job, pool: ProblemPool, window: list[int], final: bool) -> str | None:
    if len(window) == 1:
        if final:
            job.weights = {window[0]: 1.0}
        return "single"
    clusters = {int(pool.clusters[c]) for c in window}
    if len(clusters) == 1 and -1 not in clusters:
        job.skipped += 1
        if final:  # all equivalent: any member is the pick, credit spread evenly
            job.weights = {c: 1.0 / len(window) for c in window}
        return "skip"
    return None


def _unique(requests: list[GenRequest]) -> list[GenRequest]:
    from harness.judge_cache import request_key

    seen: dict[str, GenRequest] = {}
    for request in requests:
        seen.setdefault(request_key(request), request)
    return list(seen.values())


def _score(jobs, pools, correct, ns, options: EvalOptions) -> list[NResult]:
    results = []
    for n in ns:
        per_problem = np.zeros(len(pools))
        counts = np.zeros(len(pools))
        ties = fallback_jobs = 0
        for job in (j for j in jobs if j.n == n):
            per_problem[job.problem] += sum(w * correct[job.problem][c] for c, w in job.weights.items())
            counts[job.problem] += 1
            ties += len(job.weights) > 1
            fallback_jobs += job.fallbacks > 0
        per_problem = per_problem / np.maximum(counts, 1)
        ci = bootstrap_ci(per_problem, resamples=options.resamples, seed=options.seed)
        results.append(NResult(n=n, accuracy=ci.mean, ci_low=ci.low, ci_high=ci.high, draws=int(counts.sum()),
                               methods={"llm-calls": len(pools)}, ties=ties, abstained=0, per_problem=per_problem))
    return results


def _selections(jobs, pools) -> list[dict]:
    return [{"problem_id": pools[j.problem].problem.id, "n": j.n, "draw": j.draw, "order": j.order,
             "choice": {str(c): w for c, w in j.weights.items()}, "fallbacks": j.fallbacks,
             "skipped_windows": j.skipped, "calls": j.calls} for j in jobs]
