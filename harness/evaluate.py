"""Selector accuracy at each N over a graded pool: the one estimation path for every selector.

For each problem, N and selector the method is chosen per DESIGN.md section 5: the selector's
closed form if it has one; exact enumeration of all C(M, N) subsets when the choice does not
depend on order (or N = 1, where there is no order) and that is small; otherwise seeded random
ordered subsets, shared by all selectors (`draws` of them; an asking selector scores the first
`llm_draws`). The paper protocol instead fixes the first N candidates and averages `paper_runs`
shuffled orders. Selectors that ask a judge return generators (harness/selectors/base.py); all of
them advance together, so each round's requests go to the judges in one batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from harness.errors import ConfigError
from harness.estimators import (
    bootstrap_ci,
    draw_subsets,
    enumerate_subsets,
    monte_carlo_se,
    n_subsets,
    problem_stream,
    score_choices,
    subset_rng,
)
from harness.progress import grow, progress_bar
from harness.records import JudgeStats, NPoint, SelectionRow
from harness.selectors.base import Chosen, ProblemPool, SelectContext

__all__ = ["EvalOptions", "Estimate", "NResult", "SetScores", "estimate", "evaluate", "problem_stream",
           "score_sets"]


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
    llm_draws: int = 4  # subsets per (problem, N) that an asking selector judges (sampled mode)

    @property
    def ties(self) -> str:
        """The tie rule in force: the paper protocol always scores ties fractionally."""
        return "fractional" if self.paper else self.tie_credit


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
    mc_se: float = 0.0  # Monte-Carlo standard error from sampled subsets (0 when every problem is exact)
    generation_tokens: float | None = None  # per problem, for N candidates (NPoint)
    selection_tokens: float = 0.0  # judge tokens per problem and selection (NPoint)

    def point(self) -> NPoint:
        return NPoint(n=self.n, accuracy=self.accuracy, ci_low=self.ci_low, ci_high=self.ci_high,
                      draws=self.draws, methods=dict(self.methods), ties=self.ties, abstained=self.abstained,
                      mc_se=self.mc_se, generation_tokens=self.generation_tokens,
                      selection_tokens=self.selection_tokens)

    def to_json(self) -> dict:
        return self.point().model_dump()


@dataclass(frozen=True)
class Estimate:
    """One selector's result: accuracy at each N, its selections (asking selectors) and judge counts."""

    results: tuple[NResult, ...]
    selections: tuple[SelectionRow, ...] = ()
    judge: JudgeStats | None = None


def evaluate(selector, pools: Sequence[ProblemPool], correct: Sequence[np.ndarray], ns: Sequence[int],
             options: EvalOptions, judging=None) -> list[NResult]:
    return list(estimate([selector], pools, correct, ns, options, judging)[selector.name].results)


@dataclass
class _Cell:
    """One (selector, problem, N): how it is estimated and, once chosen, its weights."""

    selector: Any  # a harness.selectors.base.Selector
    problem: int
    n: int
    method: str
    subsets: np.ndarray | None = None  # None: closed form
    closed: float | None = None
    weights: np.ndarray | None = None
    selections: tuple[SelectionRow, ...] = ()


def estimate(selectors: Sequence, pools: Sequence[ProblemPool], correct: Sequence[np.ndarray],
             ns: Sequence[int], options: EvalOptions, judging=None) -> dict[str, Estimate]:
    """Accuracy at each N for several selectors, all scored on the very same subsets.

    `judging` (harness.judging.Judging) answers judge requests; it is needed only when an asking
    selector meets a subset that it cannot decide without a call.
    """
    _check_ns(pools, ns)
    subsets = [_Subsets(pool, options) for pool in pools]
    cells = [_plan(selector, pools[i], correct[i], i, n, subsets[i], options)
             for n in ns for i in range(len(pools)) for selector in selectors]
    _choose_all(cells, pools, correct, options, judging)
    out = {}
    for selector in selectors:
        mine = [c for c in cells if c.selector is selector]
        results = tuple(_result(n, [c for c in mine if c.n == n], pools, correct, options) for n in ns)
        selections = tuple(row for c in mine for row in c.selections)
        out[selector.name] = Estimate(results, selections, _judge_stats(selector, selections, judging))
    return out


@dataclass(frozen=True)
class SetScores:
    """One selector on given candidate sets: expected credit per set, and its selection records."""

    credit: np.ndarray  # [len(sets)] expected correctness of the pick (ties and fallbacks spread)
    selections: tuple[SelectionRow | None, ...]  # per set (asking selectors), else ()
    judge: JudgeStats | None = None


def score_sets(selectors: Sequence, pools: Sequence[ProblemPool], correct: Sequence[np.ndarray],
               sets: Sequence[tuple[int, Sequence[int]]], options: EvalOptions,
               judging=None) -> dict[str, SetScores]:
    """Score selectors on fixed candidate sets (problem index, candidate indices in the order shown),
    e.g. held-out selection tasks, through the same protocol and judging as `estimate`.

    A set listed twice is judged twice (its own seed each time): that is how to take several
    judgments of one task. Credit is the fractional expectation under the choice distribution.
    """
    groups: dict[tuple[int, int], list[int]] = {}
    for k, (i, shown) in enumerate(sets):
        groups.setdefault((i, len(shown)), []).append(k)
    cells, rows_of = [], {}
    for (i, n), rows in groups.items():
        subsets = np.array([list(sets[k][1]) for k in rows], dtype=np.int64)
        for selector in selectors:
            cell = _Cell(selector, i, n, "fixed", subsets)
            cells.append(cell)
            rows_of[id(cell)] = rows
    _choose_all(cells, pools, correct, options, judging)
    out = {}
    for selector in selectors:
        credit = np.zeros(len(sets))
        per_set: list[SelectionRow | None] = [None] * len(sets)
        for cell in (c for c in cells if c.selector is selector):
            rows = rows_of[id(cell)]
            credit[rows] = (cell.weights * correct[cell.problem][cell.subsets]).sum(axis=1)
            for row in cell.selections:
                per_set[rows[row.draw]] = row
        selections = tuple(row for row in per_set if row is not None)
        out[selector.name] = SetScores(credit, tuple(per_set) if selector.asks else (),
                                       _judge_stats(selector, selections, judging))
    return out


def _check_ns(pools: Sequence[ProblemPool], ns: Sequence[int]) -> None:
    smallest = min(pool.size for pool in pools)
    for n in ns:
        if n > smallest:
            worst = min(pools, key=lambda p: p.size).problem.id
            raise ConfigError(f"N={n} exceeds the pool: problem {worst} has only {smallest} candidates "
                              f"(pass a smaller --n)")


def _plan(selector, pool: ProblemPool, ok: np.ndarray, i: int, n: int, subsets: "_Subsets",
          options: EvalOptions) -> _Cell:
    closed = selector.closed_form(ok[:n] if options.paper else ok, n)
    if closed is not None:
        return _Cell(selector, i, n, "closed-form", closed=closed)
    invariant = selector.order_invariant or n == 1  # one candidate has no order
    if options.paper:
        runs = 1 if invariant and options.ties == "fractional" else options.paper_runs
        return _Cell(selector, i, n, "paper-fixed", subsets.paper(n, runs))
    if invariant and n_subsets(pool.size, n) <= options.max_enumerate:
        return _Cell(selector, i, n, "exact", subsets.exact(n))
    chosen = subsets.sampled(n)
    return _Cell(selector, i, n, "sampled", chosen[:options.llm_draws] if selector.asks else chosen)


def _choose_all(cells: list[_Cell], pools, correct, options: EvalOptions, judging) -> None:
    """Weights for every cell; asking selectors' generators advance together, round by round."""
    live: list[tuple[_Cell, Any, list[Any] | None]] = []
    for cell in (c for c in cells if c.subsets is not None):
        pool = pools[cell.problem]
        grades = correct[cell.problem] if cell.selector.needs_grades else None
        if not cell.selector.asks:
            cell.weights = cell.selector.choose(pool, cell.subsets, correct=grades)
            continue
        asking = cell.selector.choose(pool, cell.subsets, correct=grades,
                                      context=SelectContext(seed=options.seed, n=cell.n))
        live.append((cell, asking, None))
    # One tick per judge request answered (from the cache or the model); the total grows as each
    # round's requests become known (a tournament asks its next round after the last one).
    with progress_bar(total=0, desc="judging", unit="req", enabled=options.progress and bool(live)) as bar:
        while live:
            asked = []
            for cell, asking, answers in live:
                try:
                    asked.append((cell, asking, list(asking.send(answers))))
                except StopIteration as stop:
                    _finish(cell, stop.value)
            grow(bar, sum(len(requests) for _, _, requests in asked))
            live = list(_answer_round(asked, judging, bar.update))


def _answer_round(asked: list[tuple[_Cell, Any, Any]], judging: Any,
                  on_answered: Any = None) -> list[tuple[_Cell, Any, list[Any]]]:
    """Send every request of the round, grouped by judge, and hand each generator its answers."""
    by_judge: dict[tuple[Any, int], list[tuple[int, int]]] = {}
    flat = []
    for k, (cell, _, requests) in enumerate(asked):
        requests = list(requests)
        flat.append(requests)
        if requests:
            spec = cell.selector.judge
            by_judge.setdefault((spec, id(cell.selector)), []).extend((k, j) for j in range(len(requests)))
    answers: list[list[Any]] = [[None] * len(r) for r in flat]
    for (spec, _), slots in by_judge.items():
        if judging is None:
            raise ConfigError("an LLM selector needs a judge, but this evaluation was given none")
        selector = next(asked[k][0].selector for k, _ in slots)
        results = judging.answer(spec, getattr(selector, "backend_options", {}),
                                 [flat[k][j] for k, j in slots], on_answered=on_answered)
        for (k, j), result in zip(slots, results):
            answers[k][j] = result
    return [(cell, asking, answers[k]) for k, (cell, asking, _) in enumerate(asked)]


def _finish(cell: _Cell, chosen: Chosen) -> None:
    cell.weights = chosen.weights
    cell.selections = chosen.selections


def _result(n: int, cells: list[_Cell], pools, correct, options: EvalOptions) -> NResult:
    values = np.zeros(len(pools))
    variances, counts = np.zeros(len(pools)), np.zeros(len(pools))
    methods: dict[str, int] = {}
    draws = ties = abstained = 0
    for cell in cells:
        methods[cell.method] = methods.get(cell.method, 0) + 1
        if cell.closed is not None:
            values[cell.problem] = cell.closed
            continue
        ok = correct[cell.problem]
        assert cell.weights is not None and cell.subsets is not None
        tie_rng = np.random.default_rng([options.seed, problem_stream(pools[cell.problem].problem.id), n, 1])
        scored = score_choices(cell.weights, ok[cell.subsets], tie_credit=options.ties, rng=tie_rng)
        values[cell.problem] = scored.accuracy
        if cell.method in ("sampled", "paper-fixed"):  # exact enumeration has no sampling error
            variances[cell.problem], counts[cell.problem] = scored.variance, scored.draws
        draws, ties, abstained = draws + scored.draws, ties + scored.ties, abstained + scored.abstained
    ci = bootstrap_ci(values, resamples=options.resamples, seed=options.seed)
    return NResult(n=n, accuracy=ci.mean, ci_low=ci.low, ci_high=ci.high, draws=draws, methods=methods,
                   ties=ties, abstained=abstained, per_problem=values,
                   mc_se=monte_carlo_se(variances, counts), generation_tokens=generation_tokens(pools, n),
                   selection_tokens=selection_tokens(cells, len(pools)))


def generation_tokens(pools: Sequence[ProblemPool], n: int) -> float | None:
    """Mean over problems of N x the problem's mean completion tokens per candidate (the expected
    cost of sampling N); None unless every problem's pool has token counts."""
    per_problem = []
    for pool in pools:
        tokens = pool.gen_tokens
        if tokens is None or not len(tokens) or np.isnan(tokens).all():
            return None
        per_problem.append(n * float(np.nanmean(tokens)))
    return float(np.mean(per_problem)) if per_problem else None


def selection_tokens(cells: Sequence["_Cell"], problems: int) -> float:
    """Mean over problems of the judge tokens (prompt + completion) one selection used, averaged
    over that problem's judged subsets; problems and subsets decided without a call cost 0."""
    total = 0.0
    for cell in cells:
        if cell.selections:
            used = [sum((c.prompt_tokens or 0) + (c.completion_tokens or 0) for c in row.calls)
                    for row in cell.selections]
            total += float(np.mean(used))
    return total / problems if problems else 0.0


def _judge_stats(selector, selections: tuple[SelectionRow, ...], judging) -> JudgeStats | None:
    if not selector.asks:
        return None
    calls, cached = judging.counts(selector.judge) if judging is not None else (0, 0)
    judged = sum(len(row.calls) for row in selections)
    fallbacks = sum(row.fallbacks for row in selections)
    tokens = sum(call.completion_tokens or 0 for row in selections for call in row.calls)
    return JudgeStats(calls=calls, cached=cached, skipped_windows=sum(r.skipped_windows for r in selections),
                      fallbacks=fallbacks, windows_judged=judged,
                      parse_failure_rate=fallbacks / judged if judged else 0.0, completion_tokens=tokens)


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
