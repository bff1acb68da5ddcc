"""The one selector protocol, for selectors that ask a judge and for those that do not.

A selector sees a `ProblemPool` (the candidates' texts, answer clusters and scores, never grades)
and a batch of subsets [D, N] of candidate indices, and returns a choice distribution [D, N]:
each row sums to 1 over the positions it would pick (ties spread evenly) or to 0 if it abstains.
The estimator (`harness.evaluate.estimate`) turns that into exact expected accuracy.

A selector that needs a model (`asks = True`: genselect, usc, rl-genselect) returns, instead of
the array, a generator that first *yields* the judge requests it needs for the batch, receives
their results (`send`), may ask again (tournament rounds), and finally *returns* a `Chosen`.
The runner drives every such generator of a round together, so all judge requests across
problems, N and draws go to the backend in one batch. Selectors that ask nothing skip that step.

Only a selector with `needs_grades` (the oracle) receives correctness, and everything downstream
marks it as an upper bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Generator, Mapping, Protocol, Sequence, Union

import numpy as np

from harness.types import Problem

if TYPE_CHECKING:
    from harness.backends.base import GenRequest, GenResult
    from harness.records import SelectionRow, SelectorInfo


@dataclass(frozen=True)
class ProblemPool:
    problem: Problem
    clusters: np.ndarray  # int64 [M]; -1 where no answer was extracted
    scores: Mapping[str, np.ndarray] = field(default_factory=dict)  # float [M]; nan = missing
    texts: Sequence[str] = ()  # the candidates' full texts (what a judge reads a view of)
    kind: str = "math"  # the task's kind: "math" or "code" (what a judge is shown)
    # tokens each candidate cost to generate (completion tokens; nan = the source did not say)
    gen_tokens: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(self.clusters.shape[0])


@dataclass(frozen=True)
class SelectContext:
    """What an asking selector needs besides the subsets to make its requests reproducible."""

    seed: int  # the run's seed
    n: int  # subset size of this batch


@dataclass(frozen=True)
class Chosen:
    """An asking selector's final answer for one batch of subsets."""

    weights: np.ndarray  # [D, N] choice distribution over positions
    selections: tuple["SelectionRow", ...] = ()  # one record per subset, with the judge calls


Asking = Generator[Sequence["GenRequest"], Sequence["GenResult"], Chosen]


@dataclass(frozen=True)
class SelectorSetup:
    """Run-level options a selector may take when the runner builds it (`from_setup`).

    Built from the run's config (harness.run.selector_setup), whose fields hold the defaults;
    selectors that need none of these (first, majority, oracle, ...) ignore it.
    """

    judge_model: str | None  # the prompted selectors' judge; None: the default judge below
    checkpoint: str | None  # rl-genselect's trained judge; None: the newest checkpoint, local or shipped
    default_judge: str | None  # the pool's generator, when it is a model (not an import)
    judge_backend: str
    judge_temperature: float
    judge_max_tokens: int | None
    window: int
    tournament_repeats: int
    results_dir: str  # where trained checkpoints are registered
    protocol: str  # selection rules: "harness" or "nemo-skills" (harness/selectors/protocols.py)


class Selector(Protocol):
    name: ClassVar[str]
    order_invariant: ClassVar[bool]  # same choice for any order of the same subset
    needs_grades: ClassVar[bool]
    upper_bound: ClassVar[bool]
    asks: ClassVar[bool]  # choose() returns an `Asking` generator (needs a `context`)

    def choose(self, pool: ProblemPool, subsets: np.ndarray, *, correct: np.ndarray | None = None,
               context: SelectContext | None = None) -> Union[np.ndarray, Asking]: ...

    def closed_form(self, correct: np.ndarray, n: int) -> float | None:
        """Exact expected accuracy over random size-n subsets of this pool, if known; else None."""
        ...

    def info(self) -> "SelectorInfo": ...


class VectorSelector:
    """Defaults shared by the built-in selectors that ask no model."""

    name: ClassVar[str] = "base"
    order_invariant: ClassVar[bool] = True
    needs_grades: ClassVar[bool] = False
    upper_bound: ClassVar[bool] = False
    asks: ClassVar[bool] = False

    @classmethod
    def from_setup(cls, setup: SelectorSetup) -> "VectorSelector":
        return cls()

    def closed_form(self, correct: np.ndarray, n: int) -> float | None:
        return None

    def info(self) -> "SelectorInfo":
        from harness.records import SelectorInfo

        return SelectorInfo(name=self.name, upper_bound=self.upper_bound,
                            order_invariant=self.order_invariant)


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
