"""Exact statistics for Best-of-N selection (DESIGN.md section 5).

Vocabulary:
  M = candidates in a problem's pool; N = candidates shown to the selector; a *subset* is an
  ordered size-N draw without replacement from the M. A selector maps each subset to a *choice
  distribution* over its N positions (rows sum to 1, or 0 when it abstains): ties and random
  picks are spread as probability mass, so the expected accuracy is exact without sampling the
  tie-break. Accuracy at N is the expectation over subsets, computed by (in order of preference)
  a closed form, exact enumeration of all C(M, N) subsets (order-invariant selectors), or many
  seeded draws that share their seed across selectors, so paired comparisons use the same draws.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from harness.types import stable_hash


# -- pass@k -----------------------------------------------------------------------------------
def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k = 1 - C(n-c, k) / C(n, k) (Chen et al. 2021), in a stable product form."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


# -- subsets ------------------------------------------------------------------------------------
def draw_subsets(rng: np.random.Generator, m: int, n: int, draws: int) -> np.ndarray:
    """`draws` ordered size-n subsets of range(m) without replacement, in random order: [draws, n]."""
    if not 1 <= n <= m:
        raise ValueError(f"cannot draw {n} of {m} candidates")
    return np.argsort(rng.random((draws, m)), axis=1)[:, :n]


def enumerate_subsets(m: int, n: int) -> np.ndarray:
    """All C(m, n) subsets of range(m), each in increasing order: [C(m, n), n]."""
    return np.array(list(itertools.combinations(range(m), n)), dtype=np.int64).reshape(-1, n)


def problem_stream(problem_id: str) -> int:
    """A problem's random stream, derived from its id and not its position, so adding problems
    never changes other problems' draws."""
    return int(stable_hash(problem_id, 8), 16)


def subset_rng(seed: int, problem_stream: int) -> np.random.Generator:
    # The stream depends on (seed, problem) and not on the selector, so every selector in a run
    # (and in any other run with the same seed) sees exactly the same subsets. The subsets for
    # N are the first N columns of one set of random permutations per problem: each is a uniform
    # ordered N-subset, and neighbouring N share draws, which smooths the scaling curve.
    return np.random.default_rng([seed, problem_stream])


# -- scoring a choice distribution ----------------------------------------------------------------
@dataclass(frozen=True)
class ScoredDraws:
    accuracy: float  # mean credit over the subsets
    draws: int
    ties: int  # subsets where the selector spread its choice over several candidates
    abstained: int  # subsets with no choice (all weights zero): scored 0
    variance: float = 0.0  # sample variance of the per-subset credit (0 for a single subset)


def score_choices(weights: np.ndarray, correct_sub: np.ndarray, *, tie_credit: str,
                  rng: np.random.Generator | None = None) -> ScoredDraws:
    """Credit per subset: 'fractional' = expected correctness under the choice distribution
    (ties scored as the mean over the tied options, the paper's rule); 'draw' = correctness of
    one seeded pick from it (what a deployed selector does)."""
    row_mass = weights.sum(axis=1)
    abstained = row_mass <= 1e-12
    ties = int(((weights > 1e-12).sum(axis=1) > 1).sum())
    if tie_credit == "fractional":
        credit = (weights * correct_sub).sum(axis=1)
    elif tie_credit == "draw":
        if rng is None:
            raise ValueError("tie_credit='draw' needs an rng")
        cdf = np.cumsum(weights, axis=1)
        u = rng.random(len(weights)) * np.where(abstained, 1.0, row_mass)
        pick = np.minimum((cdf < u[:, None]).sum(axis=1), weights.shape[1] - 1)
        credit = np.where(abstained, 0.0, correct_sub[np.arange(len(weights)), pick])
    else:
        raise ValueError(f"tie_credit must be 'fractional' or 'draw', got {tie_credit!r}")
    return ScoredDraws(accuracy=float(credit.mean()), draws=len(weights), ties=ties,
                       abstained=int(abstained.sum()),
                       variance=float(credit.var(ddof=1)) if len(credit) > 1 else 0.0)


def monte_carlo_se(variances: np.ndarray, draws: np.ndarray) -> float:
    """Standard error of a mean over problems of per-problem means of random draws: the part of
    the uncertainty that more draws would remove (problems with exact values contribute 0)."""
    variances, draws = np.asarray(variances, dtype=float), np.asarray(draws, dtype=float)
    if variances.size == 0:
        return 0.0
    terms = np.divide(variances, draws, out=np.zeros_like(variances), where=draws > 0)
    return float(np.sqrt(terms.sum()) / variances.size)


# -- confidence intervals -------------------------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float


def bootstrap_ci(per_problem: np.ndarray, *, resamples: int = 10_000, level: float = 0.95,
                 seed: int = 0) -> Interval:
    """Percentile bootstrap over problems (the unit that was sampled from the world)."""
    values = np.asarray(per_problem, dtype=float)
    if values.size == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng([seed, 7919])
    means = _resample_means(values, rng, resamples)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return Interval(float(values.mean()), float(low), float(high))


def _resample_means(values: np.ndarray, rng: np.random.Generator, resamples: int) -> np.ndarray:
    return values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)


@dataclass(frozen=True)
class PairedDifference:
    mean: float  # mean over problems of (a - b)
    low: float
    high: float
    p_a_better: float  # share of bootstrap resamples where a beats b


def paired_difference(a: np.ndarray, b: np.ndarray, *, resamples: int = 10_000, level: float = 0.95,
                      seed: int = 0) -> PairedDifference:
    """Bootstrap CI of mean(a - b) resampling problems jointly, so shared difficulty cancels."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired difference needs the same problems: {a.shape} vs {b.shape}")
    diff = a - b
    rng = np.random.default_rng([seed, 104729])
    means = _resample_means(diff, rng, resamples)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return PairedDifference(float(diff.mean()), float(low), float(high), float((means > 0).mean()))


def n_subsets(m: int, n: int) -> int:
    return math.comb(m, n)
