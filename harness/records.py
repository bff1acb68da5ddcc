"""Typed records: what a run writes (run.json, selections.jsonl) and everything that reads it.

Every module that reads a run goes through these models instead of string keys, and the two
labels people see, "(upper bound)" and the checkpoint behind an rl-genselect row, are rendered
here once (`SelectorInfo.label`). Field docstrings are the schema's documentation.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from harness.types import GenSpec

RUN_SCHEMA = 2  # 2: typed records (selector info, judge spec as a GenSpec, judge stats)


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class SelectorInfo(_Record):
    name: str
    """Registry name of the selector (first, majority, genselect, rl-genselect, ...)."""
    upper_bound: bool = False
    """True for selectors that read grades (the oracle, pass@N): an upper bound, never a selector."""
    order_invariant: bool = True
    """True when the choice does not depend on the order the candidates are shown in."""
    checkpoint: str | None = None
    """Name of the trained checkpoint behind the judge (rl-genselect), shown in the leaderboard."""
    judge: GenSpec | None = None
    """The judge of an LLM selector, as the same spec type that keys a generator's pool."""
    window: int | None = None
    """Candidates per judge prompt; N above it runs a knockout tournament."""
    repeats: int | None = None
    """Knockouts per selection when N exceeds the window (winners vote)."""

    def label(self) -> str:
        """The one place that renders a selector's display name."""
        name = self.name + (f" [{self.checkpoint}]" if self.checkpoint else "")
        return name + (" (upper bound)" if self.upper_bound else "")


class NPoint(_Record):
    n: int
    """Candidates shown to the selector."""
    accuracy: float
    """Mean over problems of the expected accuracy over N-subsets."""
    ci_low: float
    """Lower end of the 95% bootstrap interval over problems."""
    ci_high: float
    """Upper end of the 95% bootstrap interval over problems."""
    draws: int
    """Subsets scored, summed over problems (closed forms count 0)."""
    methods: dict[str, int]
    """How many problems used each method (closed-form, exact, sampled, paper-fixed)."""
    ties: int
    """Subsets where the choice was spread over several candidates."""
    abstained: int
    """Subsets with no choice (scored 0)."""
    mc_se: float = 0.0
    """Monte-Carlo standard error of `accuracy` from its sampled subsets or judge draws (0 if exact).
    The bootstrap CI is over problems; this is the part more draws would remove."""
    generation_tokens: float | None = None
    """Tokens generated per problem for N candidates (N x the problem's mean completion tokens),
    averaged over problems; None when the pool does not record token counts."""
    selection_tokens: float = 0.0
    """Judge tokens (prompt + completion) per problem to select among N, averaged over problems:
    0 for selectors that call no model; a window decided without a call costs nothing."""


class JudgeStats(_Record):
    calls: int
    """Judge requests sent to a model in this run."""
    cached: int
    """Judge requests answered by the judge cache."""
    skipped_windows: int
    """Windows decided without a call (all candidates in one answer cluster)."""
    fallbacks: int
    """Judge outputs with no valid judgment, replaced by a uniformly random pick."""
    windows_judged: int
    """Windows that a judge output decided (or failed to)."""
    parse_failure_rate: float
    """fallbacks / windows_judged."""
    completion_tokens: int
    """Tokens the judge wrote, summed over every judged window (cached ones included)."""


class JudgeCall(_Record):
    round: int
    """Tournament round (0 = first)."""
    window: tuple[int, ...]
    """Candidate indices shown, in the order shown."""
    seed: int
    """Sampling seed of the request."""
    raw: str
    """The judge's full output."""
    parsed: int | None
    """Position in the window it named, or None (a parse failure)."""
    completion_tokens: int | None = None
    """Tokens the judge wrote for this call, when the backend reports them."""
    prompt_tokens: int | None = None
    """Tokens the judge read for this call, when the backend reports them."""


class SelectionRow(_Record):
    problem_id: str
    """The problem."""
    n: int
    """Candidates in the selection."""
    draw: int
    """Which subset of this (problem, N)."""
    order: tuple[int, ...]
    """Candidate indices in the order shown (first repetition)."""
    choice: dict[str, float]
    """Candidate index -> probability of being picked (a fallback spreads it evenly)."""
    fallbacks: int
    """Parse failures in this selection."""
    skipped_windows: int
    """Windows decided without a call."""
    calls: tuple[JudgeCall, ...]
    """Every judge call made for this selection, across rounds and repetitions."""


class TaskInfo(_Record):
    name: str
    """The task's own name (arith-mul1-test-n20-s0 for arith:level=mul1)."""
    version: str
    """Task version; the leaderboard never mixes versions."""
    source: str
    """Where the problems came from (hub id or local folder)."""
    grader: str
    """Grader name."""
    grader_version: str
    """Grader version; part of the grades cache key."""
    spec: str | None = None
    """The task as given, with its arguments (arith:level=mul1): what loads it again."""

    @property
    def loadable(self) -> str:
        """What harness.plugins.load_task takes to load this task again."""
        return self.spec or self.name


class PoolInfo(_Record):
    ref: str
    """Pool reference <task>/<model-slug>/<key>."""
    key: str
    """Content-addressed pool key (hash of task and GenSpec)."""
    label: str
    """Generator label shown in tables."""
    spec: GenSpec
    """How the candidates were generated (backend 'import' for imported pools)."""


class CandidateCounts(_Record):
    total: int
    """Candidates of the evaluated problems."""
    truncated: int
    """Candidates the generator cut at its token limit (finish reason 'length')."""
    unfinished_thinking: int
    """Candidates whose <think> never closed: they have no answer (not graded as one, not shown)."""


class RunData(_Record):
    schema_version: int = RUN_SCHEMA
    """Record schema version."""
    kind: Literal["run"] = "run"
    """File kind marker."""
    run_id: str
    """Short random id."""
    created_unix: float
    """Creation time (seconds since the epoch)."""
    created: str
    """Creation time, ISO 8601 UTC."""
    mode: Literal["subsets", "paper"]
    """subsets: expectation over N-subsets; paper: the paper's fixed-first-N protocol."""
    protocol: Literal["harness", "nemo-skills"] = "harness"
    """Selection rules (harness/selectors/protocols.py): what majority counts, what the judge sees."""
    selector: SelectorInfo
    """Which selector, labelled for display."""
    task: TaskInfo
    """Task and grader versions."""
    pool: PoolInfo
    """The candidate pool."""
    pool_match: dict[str, Any]
    """How the pool's problems matched the task's."""
    grading: dict[str, Any]
    """Grading counts (graded, cached, errors)."""
    config: dict[str, Any]
    """The resolved run configuration."""
    environment: dict[str, Any]
    """git sha, package versions, hardware, sandbox isolation."""
    problems: int
    """Problems evaluated."""
    candidates: CandidateCounts | None = None
    """How many candidates there were, and how many were cut short."""
    summary: tuple[NPoint, ...]
    """Accuracy at each N."""
    llm: JudgeStats | None = None
    """Judge call counts (LLM selectors only)."""


class ProblemRow(_Record):
    problem_id: str
    """The problem."""
    n: int
    """Candidates shown."""
    accuracy: float
    """Expected accuracy of the selector on this problem at this N."""
