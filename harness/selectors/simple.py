"""Baselines with closed forms: first (pass@1), random, and the oracle (pass@N, an upper bound)."""

from __future__ import annotations

import numpy as np

from harness.estimators import pass_at_k
from harness.selectors.base import ProblemPool, VectorSelector, spread_over


class First(VectorSelector):
    """Take the first candidate shown: the pass@1 baseline."""

    name = "first"
    order_invariant = False

    def choose(self, pool: ProblemPool, subsets: np.ndarray, *, correct=None,
               context=None) -> np.ndarray:
        weights = np.zeros(subsets.shape)
        weights[:, 0] = 1.0
        return weights

    def closed_form(self, correct: np.ndarray, n: int) -> float:
        # In a uniformly random ordered subset the first element is a uniform candidate.
        return float(np.mean(correct))


class Random(VectorSelector):
    """Pick uniformly at random among the N candidates."""

    name = "random"

    def choose(self, pool: ProblemPool, subsets: np.ndarray, *, correct=None,
               context=None) -> np.ndarray:
        return np.full(subsets.shape, 1.0 / subsets.shape[1])

    def closed_form(self, correct: np.ndarray, n: int) -> float:
        return float(np.mean(correct))


class Oracle(VectorSelector):
    """Pick a correct candidate whenever one exists (pass@N). An upper bound, not a selector."""

    name = "oracle"
    needs_grades = True
    upper_bound = True

    def choose(self, pool: ProblemPool, subsets: np.ndarray, *, correct=None,
               context=None) -> np.ndarray:
        if correct is None:
            raise ValueError("the oracle needs grades")
        good = correct[subsets] > 0
        # With no correct candidate, any pick scores 0; spread over all to keep rows summing to 1.
        return spread_over(np.where(good.any(axis=1, keepdims=True), good, True))

    def closed_form(self, correct: np.ndarray, n: int) -> float:
        return pass_at_k(len(correct), int(np.sum(correct > 0)), n)
