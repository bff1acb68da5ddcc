"""The vectorised selector protocol used by every selector that needs no LLM.

A selector sees a `ProblemPool` (answers' clusters and per-candidate scores, never grades) and a
batch of subsets [D, N] of candidate indices, and returns a choice distribution [D, N]: each row
sums to 1 over the positions it would pick (ties spread evenly) or to 0 if it abstains. The
estimators turn that into exact expected accuracy. Only a selector with `needs_grades` (the
oracle) receives correctness, and everything downstream marks it as an upper bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Mapping, Protocol

import numpy as np

from harness.types import Problem


@dataclass(frozen=True)
class ProblemPool:
    problem: Problem
    clusters: np.ndarray  # int64 [M]; -1 where no answer was extracted
    scores: Mapping[str, np.ndarray] = field(default_factory=dict)  # float [M]; nan = missing

    @property
    def size(self) -> int:
        return int(self.clusters.shape[0])


class Selector(Protocol):
    name: ClassVar[str]
    order_invariant: ClassVar[bool]  # same choice for any order of the same subset
    needs_grades: ClassVar[bool]
    upper_bound: ClassVar[bool]

    def choose(self, pool: ProblemPool, subsets: np.ndarray, *,
               correct: np.ndarray | None = None) -> np.ndarray: ...

    def closed_form(self, correct: np.ndarray, n: int) -> float | None:
        """Exact expected accuracy over random size-n subsets of this pool, if known; else None."""
        ...


class VectorSelector:
    """Defaults shared by the built-in selectors."""

    name: ClassVar[str] = "base"
    order_invariant: ClassVar[bool] = True
    needs_grades: ClassVar[bool] = False
    upper_bound: ClassVar[bool] = False

    def closed_form(self, correct: np.ndarray, n: int) -> float | None:
        return None

    def describe(self) -> dict:
        return {"name": self.name, "upper_bound": self.upper_bound}


def spread_over(mask: np.ndarray) -> np.ndarray:
    """Turn a boolean [D, N] mask of equally good positions into a choice distribution."""
    mass = mask.sum(axis=1, keepdims=True)
    return np.divide(mask, mass, out=np.zeros(mask.shape, dtype=float), where=mass > 0)


def cluster_vote_weights(clusters_sub: np.ndarray, votes: np.ndarray | None = None) -> np.ndarray:
    """Choice distribution of 'the cluster with the most votes wins'.

    clusters_sub [D, N] cluster ids (-1 = no answer, never votes); votes [D, N] the weight each
    candidate adds to its cluster (1 for majority, a reward score for rm-vote). Tied winning
    clusters share the mass equally, and within a cluster every member is equally likely, so
    the expected credit is the paper's "mean correctness of the tied answers".
    """
    d, n = clusters_sub.shape
    valid = clusters_sub >= 0
    k = int(clusters_sub.max()) + 1 if valid.any() else 0
    if k == 0:
        return np.zeros((d, n))
    # Per-row histograms with one bincount over row-offset cluster ids: O(D*N), not O(D*N*K).
    flat = (np.arange(d)[:, None] * k + np.where(valid, clusters_sub, 0)).ravel()
    members = np.bincount(flat, weights=valid.ravel(), minlength=d * k).reshape(d, k)
    present = members > 0
    if votes is None:  # integer counts: exact comparison, no tolerance needed
        winners = present & (members == members.max(axis=1, keepdims=True))
    else:
        totals = np.bincount(flat, weights=np.where(valid, votes, 0.0).ravel(), minlength=d * k).reshape(d, k)
        best = np.where(present, totals, -np.inf).max(axis=1, keepdims=True)
        winners = present & np.isclose(totals, best, rtol=1e-12, atol=1e-12)  # [D, K]
    share = np.divide(winners, winners.sum(axis=1, keepdims=True) * np.maximum(members, 1),
                      out=np.zeros(winners.shape), where=winners)
    return np.where(valid, np.take_along_axis(share, np.where(valid, clusters_sub, 0), axis=1), 0.0)
