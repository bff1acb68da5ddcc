"""GenSelect-style LLM selectors: genselect, rl-genselect and usc (DESIGN.md section 6).

They implement the same selector protocol as majority or the oracle: `choose` returns a
generator that yields the judge requests of each knockout round (harness/selectors/tournament.py)
and returns the choice distribution; the runner batches every request of a round across problems,
N and draws, and answers them from the judge cache or one backend call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any, ClassVar

import numpy as np

from harness.errors import ConfigError
from harness.models import resolve_spec
from harness.records import SelectorInfo
from harness.selectors.base import Asking, ProblemPool, SelectContext, SelectorSetup
from harness.selectors.protocols import HARNESS, SelectionProtocol, protocol
from harness.types import GenSpec

JUDGE_MAX_TOKENS_CAP = 32768  # a judge preset's own limit is capped here unless set explicitly


def load_prompt(version: str) -> str:
    return resources.files("harness.prompts").joinpath(f"{version}.txt").read_text(encoding="utf-8")


def candidate_view(text: str, kind: str, max_chars: int) -> str:
    """What the judge reads of a candidate in the default protocol: math = the final solution
    (after the last </think>), code = the extracted program; cut from the front to max_chars."""
    view = HARNESS.view(text, kind, max_chars)
    assert view is not None  # the default protocol cuts, it never leaves a candidate out
    return view


@dataclass
class GenSelect:
    """An LLM reads the N candidates and names the best one ("Judgment: k")."""

    name: ClassVar[str] = "genselect"
    asks: ClassVar[bool] = True
    order_invariant: ClassVar[bool] = False
    needs_grades: ClassVar[bool] = False
    upper_bound: ClassVar[bool] = False

    judge_model: str | None = None
    judge_backend: str = "hf"
    backend_options: dict[str, Any] = field(default_factory=dict)
    prompt_version: str = "genselect_v1"
    window: int = 8
    repeats: int = 1  # knockouts per selection when N > window, under random permutations
    max_chars: int = 3000
    temperature: float = 0.6  # the paper's selection temperature
    top_p: float = 0.95
    max_tokens: int | None = None  # None: the judge preset's default (capped)
    checkpoint: str | None = None  # set by rl-genselect; shown in the leaderboard
    # selection rules: "harness" or "nemo-skills" (harness/selectors/protocols.py)
    protocol_name: str = "harness"

    @property
    def rules(self) -> SelectionProtocol:
        return protocol(self.protocol_name)

    @classmethod
    def from_setup(cls, setup: SelectorSetup) -> "GenSelect":
        judge = setup.judge_model or setup.default_judge
        if judge is None:
            raise ConfigError(f"{cls.name} needs a judge model: the pool was imported, so pass --judge-model")
        return cls(judge_model=judge, **_judge_options(setup))

    @property
    def judge(self) -> GenSpec:
        """The judge as a GenSpec: the same type, built by the same function, as a generator's."""
        if self.judge_model is None:
            raise ConfigError(f"{self.name} has no judge model; pass --judge-model")
        return resolve_spec(self.judge_model, self.judge_backend, self.prompt_version,
                            temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_tokens,
                            max_tokens_cap=JUDGE_MAX_TOKENS_CAP)

    def closed_form(self, correct, n):  # LLM selectors are always estimated from calls
        return None

    def build_prompt(self, statement: str, shown: list[str]) -> str:
        blocks = "\n\n".join(f"Solution {i}:\n{text}" for i, text in enumerate(shown))
        return load_prompt(self.prompt_version).format(k=len(shown), problem=statement, solutions=blocks,
                                                       last=len(shown) - 1)

    def choose(self, pool: ProblemPool, subsets: np.ndarray, *, correct=None,
               context: SelectContext | None = None) -> Asking:
        from harness.selectors.tournament import knockout

        if context is None:
            raise ValueError(f"{self.name} asks a judge: choose() needs a SelectContext")
        return knockout(self, pool, subsets, context)

    def info(self) -> SelectorInfo:
        return SelectorInfo(name=self.name, order_invariant=False, checkpoint=self.checkpoint,
                            judge=self.judge, window=self.window, repeats=self.repeats)


def _judge_options(setup: SelectorSetup) -> dict[str, Any]:
    return {"judge_backend": setup.judge_backend, "temperature": setup.judge_temperature,
            "max_tokens": setup.judge_max_tokens, "window": setup.window, "repeats": setup.tournament_repeats,
            "protocol_name": setup.protocol}


@dataclass
class USC(GenSelect):
    """Universal self-consistency: the same machinery, asking for the most consistent response."""

    name: ClassVar[str] = "usc"
    prompt_version: str = "usc_v1"


@dataclass
class RLGenSelect(GenSelect):
    """GenSelect judged by a DAPO-trained checkpoint (--checkpoint; default the newest, local or shipped)."""

    name: ClassVar[str] = "rl-genselect"

    @classmethod
    def from_setup(cls, setup: SelectorSetup) -> "RLGenSelect":
        # The judge here is a trained checkpoint (--checkpoint, default the newest), never the
        # generator; --judge-model names the prompted selectors' judge, so one run can compare
        # the trained judge with its own untrained base prompted.
        return cls.from_checkpoint(setup.results_dir, setup.checkpoint, **_judge_options(setup))

    @classmethod
    def from_checkpoint(cls, results_dir: str, name_or_path: str | None = None,
                        **options: Any) -> "RLGenSelect":
        from harness.checkpoints import resolve_checkpoint

        entry = resolve_checkpoint(results_dir, name_or_path)
        if options.get("max_tokens") is None:
            options["max_tokens"] = entry.get("max_tokens")
        if entry.get("prompt_version"):  # the prompt it was trained on
            options.setdefault("prompt_version", entry["prompt_version"])
        return cls(judge_model=entry["path"], checkpoint=entry["name"], **options)
