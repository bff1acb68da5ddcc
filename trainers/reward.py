"""The selection reward: 1.0 when the parsed judgment names a correct candidate, else 0.0.

The verdict is read by `harness.selectors.judgment.parse_judgment`, the very function the
GenSelect evaluation uses, so training and evaluation can never disagree on what a judgment
says. A parse failure (no "Judgment: k", k out of range, still thinking) scores 0.

DAPO's soft overlong punishment is optional: with L_max the response budget and L_cache the
buffer before it, a response of length L gets 0 up to L_max - L_cache, then a linear penalty
down to -1 at L_max, added to the 0/1 reward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from harness.selectors.judgment import parse_judgment


@dataclass(frozen=True)
class RewardResult:
    reward: float  # accuracy reward plus the overlong penalty (if enabled)
    correct: float  # the 0/1 accuracy part alone (DAPO's "acc")
    parsed: int | None  # the index the judgment names, None on a parse failure


def overlong_penalty(length: int, max_length: int, cache: int, factor: float = 1.0) -> float:
    """DAPO's soft overlong punishment: 0 up to max_length - cache, then linear down to -factor
    at max_length (and no lower)."""
    if cache <= 0:
        return 0.0
    start = max_length - cache
    if length <= start:
        return 0.0
    return -factor * min(1.0, (length - start) / cache)


def judge_reward(completion: str | None, n_candidates: int, correct_positions: Iterable[int]) -> RewardResult:
    parsed = parse_judgment(completion, n_candidates)
    ok = 1.0 if parsed is not None and parsed in set(int(c) for c in correct_positions) else 0.0
    return RewardResult(reward=ok, correct=ok, parsed=parsed)


def score(completion: str | None, n_candidates: int, correct_positions: Iterable[int], *,
          length: int | None = None, max_length: int | None = None, overlong_cache: int = 0,
          overlong_factor: float = 1.0) -> RewardResult:
    """The reward of one completion, with the soft overlong penalty when a cache is given."""
    base = judge_reward(completion, n_candidates, correct_positions)
    if overlong_cache and length is not None and max_length is not None:
        penalty = overlong_penalty(length, max_length, overlong_cache, overlong_factor)
        return RewardResult(base.reward + penalty, base.correct, base.parsed)
    return base


def completion_text(completion: Any) -> str:
    """TRL hands conversational completions as message lists; plain ones as strings."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion and isinstance(completion[-1], dict):
        content = completion[-1].get("content", "")
        if isinstance(content, list):  # content blocks
            return "".join(block.get("text", "") for block in content if isinstance(block, dict))
        return str(content)
    return "" if completion is None else str(completion)


@dataclass
class SelectionReward:
    """A TRL reward function: reward_funcs=[SelectionReward(...)].

    TRL calls it with prompts, completions, completion_ids and every dataset column as a list
    (here n_candidates and correct_positions). Per-batch statistics (parse rate, accuracy) go
    to TRL's `log_metric` and are kept in `batches` for the training curves.
    """

    max_completion_length: int | None = None
    overlong_cache: int = 0  # 0 = no soft overlong penalty
    overlong_factor: float = 1.0
    batches: list[dict[str, float]] = field(default_factory=list)
    last_correct: list[float] = field(default_factory=list)  # per completion of the latest call ("acc")
    last_rewards: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        # TRL names reward functions by __name__ (metric "rewards/selection/mean")
        self.__name__ = "selection"

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any],
                 completion_ids: Sequence[Sequence[int]] | None = None,
                 n_candidates: Sequence[int] | None = None,
                 correct_positions: Sequence[Sequence[int]] | None = None,
                 log_metric: Callable[[str, float], None] | None = None, **_: Any) -> list[float]:
        if n_candidates is None or correct_positions is None:
            raise ValueError("the selection reward needs the dataset columns n_candidates and "
                             "correct_positions")
        results = []
        for i, completion in enumerate(completions):
            length = len(completion_ids[i]) if completion_ids is not None else None
            results.append(score(completion_text(completion), int(n_candidates[i]), correct_positions[i],
                                 length=length, max_length=self.max_completion_length,
                                 overlong_cache=self.overlong_cache, overlong_factor=self.overlong_factor))
        self.last_correct = [r.correct for r in results]
        self.last_rewards = [r.reward for r in results]
        n = max(len(results), 1)
        stats = {"parse_rate": sum(r.parsed is not None for r in results) / n,
                 "accuracy": sum(r.correct for r in results) / n,
                 "reward": sum(r.reward for r in results) / n, "completions": float(len(results))}
        self.batches.append(stats)
        if log_metric is not None:
            log_metric("selection/parse_rate", stats["parse_rate"])
            log_metric("selection/accuracy", stats["accuracy"])
        return [r.reward for r in results]

    def take_batches(self) -> list[dict[str, float]]:
        out, self.batches = self.batches, []
        return out
