"""Benchmark: vectorised selector evaluation vs a straightforward per-draw Python loop.

Pool: 30 problems x 64 candidates (synthetic answers with realistic agreement), N in
{1, 2, 4, ..., 64}, 2,000 draws, selectors first + majority + oracle. Both paths run in this
process on the same pool; the numbers must agree within Monte-Carlo error. The harness path is
timed twice: as it runs (closed forms and exact enumeration where they apply) and forced to
sample every N, so the speed-up is not only from skipping work.

    python bench/selection_speed.py            # prints a table, writes bench/out/selection_speed.json
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path

import numpy as np

from harness.evaluate import EvalOptions, estimate
from harness.selectors.base import ProblemPool
from harness.selectors.simple import First, Oracle
from harness.selectors.voting import Majority
from harness.types import Problem

PROBLEMS, M, DRAWS = 30, 64, 2000
NS = [1, 2, 4, 8, 16, 32, 64]


def make_pool(seed: int = 0):
    rng = np.random.default_rng(seed)
    pools, correct = [], []
    for p in range(PROBLEMS):
        # A problem has a few popular answers; answer 0 is right with prob 0.5.
        popularity = rng.dirichlet(np.ones(6) * 0.7)
        clusters = rng.choice(6, size=M, p=popularity)
        clusters[rng.random(M) < 0.05] = -1  # some candidates have no answer
        ok = ((clusters == 0) & (rng.random() < 0.5)).astype(float)
        pools.append(ProblemPool(Problem(f"p{p}", "bench", ""), clusters.astype(np.int64)))
        correct.append(ok)
    return pools, correct


def naive(pools, correct, seed: int = 0) -> dict:
    """The loop a researcher would write: sample, vote with Counter, score ties fractionally."""
    rnd = random.Random(seed)
    out = {"first": [], "majority": [], "oracle": []}
    for n in NS:
        totals = {k: 0.0 for k in out}
        for pool, ok in zip(pools, correct):
            clusters = pool.clusters.tolist()
            oks = ok.tolist()
            for _ in range(DRAWS):
                subset = rnd.sample(range(M), n)
                totals["first"] += oks[subset[0]]
                totals["oracle"] += float(any(oks[i] for i in subset))
                votes = Counter(clusters[i] for i in subset if clusters[i] >= 0)
                if votes:
                    best = max(votes.values())
                    winners = [c for c, v in votes.items() if v == best]
                    credit = 0.0
                    for c in winners:
                        members = [i for i in subset if clusters[i] == c]
                        credit += sum(oks[i] for i in members) / len(members)
                    totals["majority"] += credit / len(winners)
        for k in out:
            out[k].append(totals[k] / (len(pools) * DRAWS))
    return out


def vectorised(pools, correct, force_sampling: bool) -> dict:
    options = EvalOptions(draws=DRAWS, progress=False, resamples=1000,
                          max_enumerate=0 if force_sampling else 5000)
    selectors = [First(), Majority(), Oracle()]
    if force_sampling:
        for selector in selectors:
            selector.closed_form = lambda ok, n: None  # instance override: no closed form
    results = estimate(selectors, pools, correct, NS, options)
    return {name: [r.accuracy for r in est.results] for name, est in results.items()}


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def main() -> None:
    pools, correct = make_pool()
    t_vec, vec = timed(vectorised, pools, correct, False)
    t_sampled, sampled = timed(vectorised, pools, correct, True)
    t_naive, ref = timed(naive, pools, correct)
    print(f"{'selector':<9} " + " ".join(f"N={n:<6}" for n in NS))
    for name in ref:
        print(f"{name:<9} " + " ".join(f"{100 * v:6.2f} " for v in vec[name]) + " harness")
        print(f"{'':<9} " + " ".join(f"{100 * v:6.2f} " for v in ref[name]) + " naive loop")
        worst = max(abs(a - b) for a, b in zip(vec[name], ref[name]))
        assert worst < 0.02, f"{name}: harness and naive loop disagree by {worst:.4f}"
    result = {"problems": PROBLEMS, "candidates": M, "draws": DRAWS, "ns": NS,
              "seconds_harness": round(t_vec, 3), "seconds_harness_all_sampled": round(t_sampled, 3),
              "seconds_naive_loop": round(t_naive, 3), "speedup": round(t_naive / t_vec, 1),
              "speedup_all_sampled": round(t_naive / t_sampled, 1)}
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "selection_speed.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
