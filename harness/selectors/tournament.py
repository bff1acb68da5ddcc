"""The knockout tournament of an LLM selector, written as an asking generator.

One *match* is one selection of one subset (and repetition): its alive candidates are split into
windows of at most `window`; each window that needs the judge becomes one request. The generator
yields the requests of every match of the batch for the current round, receives the results, and
advances every match; the runner batches the requests of all generators of a round together.

Rules (DESIGN.md section 6; the protocol's in harness/selectors/protocols.py): a window of one
candidate needs no call; where the protocol allows it, a math window whose candidates all share one
answer cluster is decided without a call (credit spread evenly over it when final); a parse failure
falls back to a uniformly random member of the window, counted and recorded (credit spread evenly
when final). N above the window with `repeats` > 1 runs the knockout again under
random permutations of the same candidates, and the winners' answer clusters vote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from harness.backends.base import GenRequest
from harness.estimators import problem_stream
from harness.models import sampling_params
from harness.records import JudgeCall, SelectionRow
from harness.selectors.base import Asking, Chosen, ProblemPool, SelectContext
from harness.types import stable_hash

if TYPE_CHECKING:
    from harness.selectors.genselect import GenSelect


@dataclass
class _Match:
    draw: int
    rep: int
    alive: list[int]
    weights: dict[int, float] = field(default_factory=dict)  # final choice distribution over candidates
    calls: list[JudgeCall] = field(default_factory=list)
    fallbacks: int = 0
    skipped: int = 0

    @property
    def done(self) -> bool:
        return bool(self.weights)


def split_windows(alive: list[int], size: int) -> list[list[int]]:
    """Split into the fewest windows of at most `size`, as even as possible."""
    count = -(-len(alive) // size)
    base, extra = divmod(len(alive), count)
    out, start = [], 0
    for w in range(count):
        end = start + base + (1 if w < extra else 0)
        out.append(alive[start:end])
        start = end
    return out


def knockout(selector: "GenSelect", pool: ProblemPool, subsets: np.ndarray, context: SelectContext) -> Asking:
    n = subsets.shape[1]
    problem_id = pool.problem.id
    matches: list[_Match] = []
    for d, row in enumerate(subsets):
        order = [int(x) for x in row]
        reps = selector.repeats if n > selector.window else 1
        rng = np.random.default_rng([context.seed, problem_stream(problem_id), n, d])
        for r in range(reps):
            shown = order if r == 0 else [order[k] for k in rng.permutation(n)]
            matches.append(_Match(draw=d, rep=r, alive=shown))
    params = sampling_params(selector.judge)
    rules = selector.rules
    round_no = 0
    while any(not m.done for m in matches):
        pending: list[tuple[_Match, list[int], bool, int, GenRequest]] = []
        for match in (m for m in matches if not m.done):
            windows = split_windows(match.alive, selector.window)
            final = len(windows) == 1
            winners: list[int | None] = []
            for w, window in enumerate(windows):
                if _decide_without_call(match, pool, window, final, rules.may_skip(pool.kind)):
                    winners.append(window[0])
                    continue
                seed = int(stable_hash([context.seed, problem_id, n, match.draw, match.rep, round_no, w],
                                       12), 16)
                views = {c: rules.view(pool.texts[c], pool.kind, selector.max_chars) for c in window}
                kept = [c for c in window if views[c] is not None]  # the rest is left out of the prompt
                if not kept:  # nothing can be shown to the judge: the random fallback, counted
                    winners.append(_settle(match, window, final, seed, None))
                    continue
                prompt = selector.build_prompt(pool.problem.statement, [str(views[c]) for c in kept])
                request = GenRequest(seed=seed, params=params, messages=(("user", prompt),))
                pending.append((match, kept, final, len(winners), request))
                winners.append(None)  # waiting for the judge
            match.alive = winners  # type: ignore[assignment]
        if pending:
            results = yield [request for *_, request in pending]
            for (match, shown, final, slot, request), result in zip(pending, results):
                choice = rules.parse(result.text, len(shown))
                match.calls.append(JudgeCall(round=round_no, window=tuple(shown), seed=request.seed,
                                             raw=result.text, parsed=choice,
                                             completion_tokens=result.completion_tokens,
                                             prompt_tokens=result.prompt_tokens))
                match.alive[slot] = _settle(match, shown, final, request.seed, choice)
        for match in matches:
            if not match.done and len(match.alive) == 1:
                match.weights = {match.alive[0]: 1.0}
        round_no += 1
    return _chosen(subsets, matches, pool)


def _settle(match: _Match, window: list[int], final: bool, seed: int, choice: int | None) -> int:
    """The window's winner: the judge's choice, or (no valid choice) a seeded random member, whose
    credit is spread evenly over the window when this is the final round."""
    if choice is not None:
        if final:
            match.weights = {window[choice]: 1.0}
        return window[choice]
    match.fallbacks += 1
    if final:
        match.weights = {c: 1.0 / len(window) for c in window}
    rng = np.random.default_rng([seed % (2**32), 17])
    return window[int(rng.integers(len(window)))]


def _decide_without_call(match: _Match, pool: ProblemPool, window: list[int], final: bool,
                         may_skip: bool) -> bool:
    if len(window) == 1:
        if final:
            match.weights = {window[0]: 1.0}
        return True
    clusters = {int(pool.clusters[c]) for c in window}
    if may_skip and len(clusters) == 1 and -1 not in clusters:
        match.skipped += 1
        if final:  # all equivalent: any member is the pick, credit spread evenly
            match.weights = {c: 1.0 / len(window) for c in window}
        return True
    return False


def _chosen(subsets: np.ndarray, matches: list[_Match], pool: ProblemPool) -> Chosen:
    by_draw: dict[int, list[_Match]] = {}
    for match in matches:
        by_draw.setdefault(match.draw, []).append(match)
    weights = np.zeros(subsets.shape)
    rows = []
    for d, reps in sorted(by_draw.items()):
        choice = reps[0].weights if len(reps) == 1 else vote_over_repeats([m.weights for m in reps], pool)
        position = {int(c): k for k, c in enumerate(subsets[d])}
        for cand, weight in choice.items():
            weights[d, position[cand]] += weight
        rows.append(SelectionRow(problem_id=pool.problem.id, n=subsets.shape[1], draw=d,
                                 order=tuple(int(c) for c in subsets[d]),
                                 choice={str(c): w for c, w in choice.items()},
                                 fallbacks=sum(m.fallbacks for m in reps),
                                 skipped_windows=sum(m.skipped for m in reps),
                                 calls=tuple(call for m in reps for call in m.calls)))
    return Chosen(weights=weights, selections=tuple(rows))


def vote_over_repeats(choices: list[dict[int, float]], pool: ProblemPool) -> dict[int, float]:
    """Merge repetitions: the winners' answer clusters vote (weighted by each repetition's choice
    distribution); tied clusters share the mass, and within a cluster the candidates that won
    share it in proportion to how often they won."""
    votes: dict[int | tuple[str, int], dict[int, float]] = {}
    for choice in choices:
        for cand, weight in choice.items():
            key: int | tuple[str, int] = (int(pool.clusters[cand]) if pool.clusters[cand] >= 0
                                          else ("alone", cand))
            votes.setdefault(key, {}).setdefault(cand, 0.0)
            votes[key][cand] += weight
    totals = {key: sum(members.values()) for key, members in votes.items()}
    best = max(totals.values())
    winners = [key for key, total in totals.items() if abs(total - best) < 1e-12]
    merged: dict[int, float] = {}
    for key in winners:
        for cand, weight in votes[key].items():
            merged[cand] = merged.get(cand, 0.0) + weight / (totals[key] * len(winners))
    return merged
