"""Answer-cluster selectors: majority vote and reward-model selectors (rm-best, rm-vote)."""

from __future__ import annotations

import numpy as np

from harness.errors import ConfigError
from harness.selectors.base import ProblemPool, VectorSelector, cluster_vote_weights, spread_over


class Majority(VectorSelector):
    """The most frequent answer cluster (task-aware equivalence; no-answer candidates never vote)."""

    name = "majority"

    def choose(self, pool: ProblemPool, subsets: np.ndarray, *, correct=None,
               context=None) -> np.ndarray:
        return cluster_vote_weights(pool.clusters[subsets])


class _NeedsScore(VectorSelector):
    score_name = "rm"

    def _scores(self, pool: ProblemPool) -> np.ndarray:
        if self.score_name not in pool.scores:
            raise ConfigError(f"selector {self.name!r} needs a {self.score_name!r} score on every candidate, "
                              f"but problem {pool.problem.id} has none "
                              f"(pool scores: {sorted(pool.scores) or 'none'})")
        return pool.scores[self.score_name]


class RmBest(_NeedsScore):
    """The candidate with the highest reward-model score (ties shared)."""

    name = "rm-best"

    def choose(self, pool: ProblemPool, subsets: np.ndarray, *, correct=None,
               context=None) -> np.ndarray:
        scores = np.nan_to_num(self._scores(pool)[subsets], nan=-np.inf)
        best = scores.max(axis=1, keepdims=True)
        return spread_over((scores == best) & np.isfinite(best))


class RmVote(_NeedsScore):
    """The answer cluster with the largest sum of reward-model scores."""

    name = "rm-vote"

    def choose(self, pool: ProblemPool, subsets: np.ndarray, *, correct=None,
               context=None) -> np.ndarray:
        scores = self._scores(pool)
        if np.nanmin(scores) < 0:
            # Sums of negative scores reward small clusters; shift so every vote is positive.
            scores = scores - np.nanmin(scores) + 1e-6
        return cluster_vote_weights(pool.clusters[subsets], np.nan_to_num(scores[subsets], nan=0.0))
