"""Selector accuracy at each N over a graded pool: the estimation loop behind `run`.

For each problem and N the method is chosen per DESIGN.md section 5: the selector's closed form
if it has one, exact enumeration of all C(M, N) subsets for order-invariant selectors when that
is small, otherwise `draws` seeded random ordered subsets (shared by all selectors). The paper
protocol instead fixes the first N candidates and averages `paper_runs` shuffled orders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from harness.estimators import (bootstrap_ci, draw_subsets, enumerate_subsets, n_subsets,
                                score_choices, subset_rng)
from harness.progress import progress_bar
from harness.selectors.base import ProblemPool
from harness.types import stable_hash


@dataclass(frozen=True)
class EvalOptions:
    draws: int = 2000
    seed: int = 0
    max_enumerate: int = 5000
    tie_credit: str = "fractional"  # or "draw"
    paper: bool = False
    paper_runs: int = 8
    resamples: int = 10_000
    progress: bool = True


@dataclass(frozen=True)
class NResult:
    n: int
    accuracy: float
    ci_low: float
    ci_high: float
    draws: int  # subsets scored, summed over problems (closed forms count as 0)
    methods: dict[str, int]  # how many problems used each method
    ties: int
    abstained: int
    per_problem: np.ndarray = field(repr=False)

    def to_json(self) -> dict:
        return {"n": self.n, "accuracy": self.accuracy, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "draws": self.draws, "methods": self.methods, "ties": self.ties, "abstained": self.abstained}


def problem_stream(problem_id: str) -> int:
    # Derived from the id, not the position, so adding problems never changes others' draws.
    return int(stable_hash(problem_id, 8), 16)


def evaluate(selector, pools: Sequence[ProblemPool], correct: Sequence[np.ndarray], ns: Sequence[int],
             options: EvalOptions) -> list[NResult]:
    return evaluate_selectors([selector], pools, correct, ns, options)[selector.name]


def evaluate_selectors(selectors: Sequence, pools: Sequence[ProblemPool], correct: Sequence[np.ndarray],
                       ns: Sequence[int], options: EvalOptions) -> dict[str, list[NResult]]:
    """Accuracy at each N for several selectors, all scored on the very same subsets."""
    smallest = min(pool.size for pool in pools)
    for n in ns:
        if n > smallest:
            worst = min(pools, key=lambda p: p.size).problem.id
            raise ValueError(f"N={n} exceeds the pool: problem {worst} has only {smallest} candidates")
    tie_credit = "fractional" if options.paper else options.tie_credit
    results: dict[str, list[NResult]] = {s.name: [] for s in selectors}
    with progress_bar(total=len(ns) * len(pools), desc="selecting", unit="prob",
                      enabled=options.progress) as bar:
        subset_cache = [_Subsets(pool, options) for pool in pools]
        for n in ns:
            per_problem = {s.name: np.zeros(len(pools)) for s in selectors}
            tallies = {s.name: {"draws": 0, "ties": 0, "abstained": 0, "methods": {}} for s in selectors}
            for i, (pool, ok) in enumerate(zip(pools, correct)):
                subsets = subset_cache[i]
                for selector in selectors:
                    acc, method, draws, ties, abstained = _one(selector, pool, ok, n, subsets, options, tie_credit)
                    per_problem[selector.name][i] = acc
                    tally = tallies[selector.name]
                    tally["methods"][method] = tally["methods"].get(method, 0) + 1
                    tally["draws"] += draws
                    tally["ties"] += ties
                    tally["abstained"] += abstained
                bar.update(1)
            for selector in selectors:
                values, tally = per_problem[selector.name], tallies[selector.name]
                ci = bootstrap_ci(values, resamples=options.resamples, seed=options.seed)
                results[selector.name].append(NResult(
                    n=n, accuracy=ci.mean, ci_low=ci.low, ci_high=ci.high, draws=tally["draws"],
                    methods=tally["methods"], ties=tally["ties"], abstained=tally["abstained"], per_problem=values))
    return results


class _Subsets:
    """The subsets of one problem, built on first use and shared by every selector and N."""

    def __init__(self, pool: ProblemPool, options: EvalOptions) -> None:
        self.m, self.options = pool.size, options
        self.stream = problem_stream(pool.problem.id)
        self._perms: np.ndarray | None = None
        self._exact: dict[int, np.ndarray] = {}
        self._paper: dict[tuple[int, int], np.ndarray] = {}

    def sampled(self, n: int) -> np.ndarray:
        if self._perms is None:
            self._perms = draw_subsets(subset_rng(self.options.seed, self.stream), self.m, self.m,
                                       self.options.draws)
        return self._perms[:, :n]

    def exact(self, n: int) -> np.ndarray:
        if n not in self._exact:
            self._exact[n] = enumerate_subsets(self.m, n)
        return self._exact[n]

    def paper(self, n: int, runs: int) -> np.ndarray:
        if (n, runs) not in self._paper:
            rng = np.random.default_rng([self.options.seed, self.stream, n, runs])
            self._paper[(n, runs)] = np.stack([rng.permutation(n) for _ in range(runs)])
        return self._paper[(n, runs)]


def _one(selector, pool: ProblemPool, ok: np.ndarray, n: int, subsets: _Subsets, options: EvalOptions,
         tie_credit: str) -> tuple[float, str, int, int, int]:
    """(accuracy, method, draws, ties, abstained) for one selector on one problem at one N."""
    m = pool.size
    if options.paper:
        ok = ok[:n]
        m = n
    closed = selector.closed_form(ok, n)
    if closed is not None:
        return closed, "closed-form", 0, 0, 0
    if options.paper:
        runs = 1 if selector.order_invariant and tie_credit == "fractional" else options.paper_runs
        chosen, method = subsets.paper(n, runs), "paper-fixed"
    elif selector.order_invariant and n_subsets(m, n) <= options.max_enumerate:
        chosen, method = subsets.exact(n), "exact"
    else:
        chosen, method = subsets.sampled(n), "sampled"
    weights = selector.choose(pool, chosen, correct=ok if selector.needs_grades else None)
    tie_rng = np.random.default_rng([options.seed, problem_stream(pool.problem.id), n, 1])
    scored = score_choices(weights, ok[chosen], tie_credit=tie_credit, rng=tie_rng)
    return scored.accuracy, method, scored.draws, scored.ties, scored.abstained
