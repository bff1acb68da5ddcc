"""Every estimator against brute-force enumeration on small random pools."""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict

import numpy as np
import pytest

from harness.estimators import (
    bootstrap_ci,
    draw_subsets,
    enumerate_subsets,
    paired_difference,
    pass_at_k,
    score_choices,
)
from harness.evaluate import EvalOptions, evaluate
from harness.selectors.base import ProblemPool
from harness.selectors.simple import First, Oracle, Random
from harness.selectors.voting import Majority, RmBest, RmVote
from harness.types import Problem


# -- brute-force references: plain Python over every ordered subset ----------------------------
def brute_pick_credit(name, clusters, correct, scores, order):
    """Expected credit of one selector on one ordered subset, ties shared equally."""
    if name == "first":
        return correct[order[0]]
    if name == "random":
        return sum(correct[i] for i in order) / len(order)
    if name == "oracle":
        return float(any(correct[i] for i in order))
    if name == "rm-best":
        best = max(scores[i] for i in order)
        tied = [i for i in order if scores[i] == best]
        return sum(correct[i] for i in tied) / len(tied)
    votes = defaultdict(float)
    members = defaultdict(list)
    for i in order:
        if clusters[i] < 0:
            continue
        votes[clusters[i]] += 1.0 if name == "majority" else scores[i]
        members[clusters[i]].append(i)
    if not votes:
        return 0.0
    best = max(votes.values())
    winners = [c for c, v in votes.items() if math.isclose(v, best, rel_tol=1e-12, abs_tol=1e-12)]
    return sum(sum(correct[i] for i in members[c]) / len(members[c]) for c in winners) / len(winners)


def brute_accuracy(name, clusters, correct, scores, n):
    perms = list(itertools.permutations(range(len(correct)), n))
    return sum(brute_pick_credit(name, clusters, correct, scores, p) for p in perms) / len(perms)


SELECTORS = {"first": First(), "random": Random(), "oracle": Oracle(), "majority": Majority(),
             "rm-best": RmBest(), "rm-vote": RmVote()}


def random_pool(rng, m):
    clusters = rng.integers(-1, 3, size=m)  # a few clusters and some no-answer candidates
    cluster_correct = rng.random(4) < 0.4
    correct = np.array([float(cluster_correct[c]) if c >= 0 else 0.0 for c in clusters])
    scores = np.round(rng.random(m), 1)  # coarse, so reward ties happen
    return clusters, correct, scores


@pytest.mark.parametrize("seed", range(12))
def test_evaluate_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(3, 7))
    clusters, correct, scores = random_pool(rng, m)
    pool = ProblemPool(Problem(f"p{seed}", "t", "s"), clusters.astype(np.int64), {"rm": scores})
    for name, selector in SELECTORS.items():
        for n in range(1, m + 1):
            expected = brute_accuracy(name, clusters, correct, scores, n)
            exact = evaluate(selector, [pool], [correct], [n], EvalOptions(progress=False, resamples=100))[0]
            assert exact.accuracy == pytest.approx(expected, abs=1e-12), (name, n)
            # The sampled path (forced) must agree within sampling error.
            sampled = evaluate(selector, [pool], [correct], [n],
                               EvalOptions(progress=False, max_enumerate=0, draws=4000, resamples=100))[0]
            assert sampled.accuracy == pytest.approx(expected, abs=0.035), (name, n)


def test_pass_at_k_matches_subset_enumeration():
    for n in range(1, 9):
        for c in range(0, n + 1):
            for k in range(1, n + 1):
                subsets = list(itertools.combinations(range(n), k))
                brute = sum(any(i < c for i in s) for s in subsets) / len(subsets)
                assert pass_at_k(n, c, k) == pytest.approx(brute, abs=1e-12)
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


def test_draw_subsets_are_without_replacement_and_uniform():
    rng = np.random.default_rng(0)
    subsets = draw_subsets(rng, 6, 3, 30000)
    assert all(len(set(row)) == 3 for row in subsets[:500])
    counts = Counter(tuple(sorted(row)) for row in subsets)
    assert len(counts) == math.comb(6, 3)
    freq = np.array(list(counts.values())) / len(subsets)
    assert np.abs(freq - 1 / 20).max() < 0.01
    first = np.bincount(subsets[:, 0], minlength=6) / len(subsets)
    assert np.abs(first - 1 / 6).max() < 0.01  # order is random too
    assert enumerate_subsets(5, 2).shape == (10, 2)


def test_draw_credit_is_unbiased_for_fractional():
    weights = np.tile([0.5, 0.5, 0.0], (40000, 1))
    correct = np.tile([1.0, 0.0, 1.0], (40000, 1))
    frac = score_choices(weights, correct, tie_credit="fractional")
    drawn = score_choices(weights, correct, tie_credit="draw", rng=np.random.default_rng(1))
    assert frac.accuracy == 0.5 and frac.ties == 40000
    assert drawn.accuracy == pytest.approx(0.5, abs=0.01)
    abstain = score_choices(np.zeros((3, 2)), np.ones((3, 2)), tie_credit="draw",
                            rng=np.random.default_rng(0))
    assert abstain.accuracy == 0 and abstain.abstained == 3


def test_paper_protocol_uses_the_fixed_first_n():
    # 10 candidates; the paper protocol must only look at the first 8.
    clusters = np.array([0, 0, 1, 1, 2, 3, 4, 5, 1, 1], dtype=np.int64)
    correct = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0], dtype=float)
    pool = ProblemPool(Problem("p", "t", "s"), clusters)
    opts = EvalOptions(paper=True, progress=False, resamples=100)
    maj = evaluate(Majority(), [pool], [correct], [8], opts)[0]
    assert maj.accuracy == pytest.approx(0.5)  # clusters 0 and 1 tie 2-2 in the first 8: (1 + 0) / 2
    assert evaluate(First(), [pool], [correct], [8], opts)[0].accuracy == pytest.approx(2 / 8)
    assert evaluate(Oracle(), [pool], [correct], [8], opts)[0].accuracy == 1.0


def test_bootstrap_ci_properties():
    rng = np.random.default_rng(3)
    values = rng.random(30)
    ci = bootstrap_ci(values, seed=1)
    assert ci.low < values.mean() < ci.high
    assert ci == bootstrap_ci(values, seed=1)  # seeded
    # Compare with the textbook index-resampling bootstrap: same quantiles within MC error.
    idx = np.random.default_rng(9).integers(0, 30, size=(20000, 30))
    naive = np.quantile(values[idx].mean(axis=1), [0.025, 0.975])
    assert ci.low == pytest.approx(naive[0], abs=0.01) and ci.high == pytest.approx(naive[1], abs=0.01)
    wide = bootstrap_ci(values[:5], seed=1)
    assert (wide.high - wide.low) > (ci.high - ci.low)


def test_paired_difference():
    rng = np.random.default_rng(4)
    a = rng.random(30)
    same = paired_difference(a, a)
    assert same.mean == 0 and same.low == 0 and same.high == 0
    better = paired_difference(a + 0.1, a)
    assert better.mean == pytest.approx(0.1) and better.low == pytest.approx(0.1)
    b = a + rng.normal(0, 0.05, 30)
    diff = paired_difference(a, b)
    assert diff.low <= diff.mean <= diff.high
    with pytest.raises(ValueError):
        paired_difference(a, a[:5])


def test_monte_carlo_se_matches_the_spread_over_seeds():
    """A sampled estimate's reported MC standard error equals the spread of the estimate over seeds."""
    rng = np.random.default_rng(11)
    pools, correct = [], []
    for k in range(12):
        clusters = rng.integers(-1, 4, size=9)
        pools.append(ProblemPool(problem=Problem(f"p{k}", "t", "x"), clusters=clusters))
        correct.append((clusters == rng.integers(0, 4)).astype(float))
    estimates = [evaluate(Majority(), pools, correct, [4],
                          EvalOptions(progress=False, max_enumerate=0, draws=60, resamples=100, seed=seed))[0]
                 for seed in range(40)]
    spread = float(np.std([e.accuracy for e in estimates], ddof=1))
    reported = float(np.mean([e.mc_se for e in estimates]))
    assert 0.7 * spread < reported < 1.4 * spread
    exact = evaluate(Majority(), pools, correct, [4], EvalOptions(progress=False, resamples=100))[0]
    assert exact.methods == {"exact": 12} and exact.mc_se == 0.0
