"""Run configuration, validated in full before any data or model is loaded."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class RunConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str
    selectors: tuple[str, ...] = Field(min_length=1)
    pool: str | None = None  # None: the pool of (task, model) below, generated as needed
    # Generation (fills whatever the pool lacks; nothing is generated when it is complete)
    model: str | None = None
    backend: str = "hf"
    samples: int | None = Field(None, ge=1)  # candidates per problem; default max(ns) or 8
    temperature: float | None = None
    max_tokens: int | None = Field(None, ge=1)
    gen_seed: int = 0
    # LLM selectors (genselect, usc, rl-genselect)
    judge_model: str | None = None  # default: the generator
    judge_backend: str = "hf"
    judge_max_tokens: int | None = Field(None, ge=1)
    judge_temperature: float = 0.6
    llm_draws: int = Field(4, ge=1)  # selections per (problem, N) for LLM selectors
    window: int = Field(8, ge=2)
    tournament_repeats: int = Field(1, ge=1)  # knockouts per selection when N > window (GenSelect: 32)
    # Judge requests are handed to the backend in chunks of this size (cache written after each):
    # None = 64 for CPU backends (hf, llamacpp), 1024 otherwise (vLLM wants big batches).
    judge_chunk: int | None = Field(None, ge=1)
    ns: tuple[int, ...] | None = None  # None: powers of two up to the pool size, plus the size
    paper: bool = False  # the paper protocol: fixed first N candidates, fractional ties
    paper_runs: int = Field(8, ge=1)
    draws: int = Field(2000, ge=1)
    seed: int = 0
    max_enumerate: int = Field(5000, ge=1)
    tie_credit: Literal["fractional", "draw"] = "fractional"
    resamples: int = Field(10_000, ge=100)
    max_grader_error_rate: float = Field(0.02, ge=0.0, le=1.0)
    workers: int = Field(0, ge=0)  # grading processes; 0 = all cores
    hub_id: str | None = None
    limit: int | None = Field(None, ge=1)  # only the first K problems of the task (quick studies)
    progress: bool = True

    @model_validator(mode="after")
    def _pool_or_model(self):
        if self.pool is None and self.model is None:
            raise ValueError("give --pool (an existing pool) or --model (generate one)")
        return self

    @field_validator("ns")
    @classmethod
    def _positive_sorted(cls, value):
        if value is None:
            return value
        if any(n < 1 for n in value):
            raise ValueError(f"every N must be >= 1, got {list(value)}")
        return tuple(sorted(set(value)))

    @field_validator("selectors")
    @classmethod
    def _known_selectors(cls, value):
        from harness.plugins import SELECTORS

        for name in value:
            SELECTORS.get(name)  # raises UnknownPluginError with did-you-mean
        return value

    @field_validator("task")
    @classmethod
    def _known_task(cls, value):
        from harness.plugins import TASKS

        TASKS.get(value.partition(":")[0])
        return value


def default_ns(pool_size: int) -> tuple[int, ...]:
    ns = [1]
    while ns[-1] * 2 <= pool_size:
        ns.append(ns[-1] * 2)
    if ns[-1] != pool_size:
        ns.append(pool_size)
    return tuple(ns)


def parse_ns(text: str) -> tuple[int, ...]:
    """'1,2,4,8' or '1-12' or '1,2,4-8' -> a tuple of ints."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.extend(range(int(lo), int(hi) + 1))
        else:
            out.append(int(part))
    return tuple(out)
