"""GenSelect-style LLM selectors: genselect, rl-genselect and usc (DESIGN.md section 6).

These selectors describe *what* to ask (prompt file, judge model, sampling, window size); the
batched asking, caching, tournament and scoring live in harness/llm_eval.py so that every
judge request of a run goes to the backend in one batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any, ClassVar

from harness.grading.math_answers import final_segment
from harness.models import preset


def load_prompt(version: str) -> str:
    return resources.files("harness.prompts").joinpath(f"{version}.txt").read_text(encoding="utf-8")


def candidate_view(text: str, kind: str, max_chars: int) -> str:
    """What the judge reads of a candidate: math = the final solution (after the last </think>),
    code = the extracted program; capped by cutting from the front, where the answer is not."""
    if kind == "code":
        from harness.grading.code_extract import extract_code

        shown = extract_code(text) or final_segment(text)
    else:
        shown = final_segment(text).strip()
    if len(shown) > max_chars:
        shown = "[...]" + shown[-max_chars:]
    return shown


@dataclass
class GenSelect:
    """An LLM reads the N candidates and names the best one ("Judgment: k")."""

    name: ClassVar[str] = "genselect"
    llm: ClassVar[bool] = True
    order_invariant: ClassVar[bool] = False
    needs_grades: ClassVar[bool] = False
    upper_bound: ClassVar[bool] = False

    judge_model: str | None = None  # None: the pool's generator
    judge_backend: str = "hf"
    backend_options: dict[str, Any] = field(default_factory=dict)
    prompt_version: str = "genselect_v1"
    window: int = 8
    max_chars: int = 3000
    temperature: float = 0.6  # the paper's selection temperature
    top_p: float = 0.95
    max_tokens: int | None = None  # None: the judge preset's default
    checkpoint: str | None = None  # set by rl-genselect; shown in the leaderboard

    def closed_form(self, correct, n):  # LLM selectors are always estimated from calls
        return None

    def sampling(self) -> dict[str, Any]:
        judge = preset(self.judge_model or "")
        return {"temperature": self.temperature, "top_p": self.top_p,
                "max_tokens": self.max_tokens or min(judge.max_tokens, 32768)}

    def judge_spec(self) -> dict[str, Any]:
        judge = preset(self.judge_model or "")
        return {"backend": self.judge_backend, "model": self.judge_model, "revision": judge.revision,
                "prompt_version": self.prompt_version, "max_chars": self.max_chars, **self.sampling()}

    def build_prompt(self, statement: str, shown: list[str]) -> str:
        blocks = "\n\n".join(f"Solution {i}:\n{text}" for i, text in enumerate(shown))
        return load_prompt(self.prompt_version).format(k=len(shown), problem=statement, solutions=blocks,
                                                       last=len(shown) - 1)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "upper_bound": False, "checkpoint": self.checkpoint,
                "judge": self.judge_spec(), "window": self.window}


@dataclass
class USC(GenSelect):
    """Universal self-consistency: the same machinery, asking for the most consistent response."""

    name: ClassVar[str] = "usc"
    prompt_version: str = "usc_v1"


@dataclass
class RLGenSelect(GenSelect):
    """GenSelect whose judge is a DAPO-trained checkpoint (newest registered, or --judge-model)."""

    name: ClassVar[str] = "rl-genselect"
    results_dir: str = "results"

    def __post_init__(self) -> None:
        from harness.checkpoints import resolve_checkpoint

        entry = resolve_checkpoint(self.results_dir, self.judge_model)
        self.judge_model = entry["path"]
        self.checkpoint = entry["name"]
        if self.max_tokens is None:
            self.max_tokens = entry.get("max_tokens")
