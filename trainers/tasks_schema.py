"""The selection task: one record of the selection-task dataset (trainers.selection_data).

Built by `selection_data.problem_tasks`, written one JSON object a line by `write_dataset`
(`task.model_dump(mode="json")`: exactly these keys, so dataset files and their hashes are
unchanged from when the records were plain dicts) and read back by `read_dataset`, which
validates every row. Everything downstream (format warm-up, DAPO with TRL, verl export, the
miniature benchmark) reads attributes; only the boundaries to third-party APIs (a Hugging Face
`datasets.Dataset`, verl's parquet rows) turn a task back into a dict. Field docstrings are the
schema's documentation.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator


class SelectionTask(BaseModel):
    """One judge prompt: a problem and the candidates shown, with the positions that are correct."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    task_id: str
    """stable_hash([pool_key, problem_id, shown_indices], 16): one id per candidate order."""
    pool_key: str
    """Key of the candidate pool the candidates come from ("" when the build was given none)."""
    pool_ref: str
    """The pool's readable reference (task/model/key), as `harness.pools.Pool.ref` gives it."""
    problem_id: str
    """Id of the problem (`harness.types.Problem.id`); train/validation splits are by problem."""
    task: str
    """Name of the task the problem belongs to (`Problem.task`), e.g. an arith task name."""
    kind: str
    """Task kind ("math", "code"): how candidates were viewed; names verl's data_source and ability."""
    shown_indices: tuple[int, ...]
    """Pool indices (`Candidate.index`) of the candidates shown, in the order shown."""
    correct_positions: tuple[int, ...]
    """Positions (0-based, into shown_indices) of the correct candidates, ascending; never empty."""
    n_candidates: int
    """Candidates shown (= len(shown_indices)); `Judgment: k` is valid for 0 <= k < n_candidates."""
    pass_rate: float
    """The generator's pass rate on the problem, over all graded candidates, before any filter."""
    prompt_tokens: int
    """Length of the prompt by the build's token counter (the judge's tokenizer, or chars/4)."""
    prompt_version: str
    """GenSelect prompt version the prompt was rendered with (e.g. "genselect_v1")."""
    prompt: str
    """The judge prompt, rendered by GenSelect's own prompt builder (identical to evaluation)."""

    @model_validator(mode="after")
    def _consistent(self) -> "SelectionTask":
        if self.n_candidates != len(self.shown_indices):
            raise ValueError(f"n_candidates is {self.n_candidates} but {len(self.shown_indices)} "
                             "candidates are shown")
        if not self.correct_positions:
            raise ValueError("correct_positions is empty (a task holds at least one correct candidate)")
        if list(self.correct_positions) != sorted(set(self.correct_positions)) \
                or not 0 <= self.correct_positions[0] <= self.correct_positions[-1] < self.n_candidates:
            raise ValueError(f"correct_positions {list(self.correct_positions)} must be distinct, "
                             f"ascending and in [0, {self.n_candidates})")
        return self

    @property
    def correct_indices(self) -> tuple[int, ...]:
        """Pool indices of the correct candidates shown, in the order shown."""
        return tuple(self.shown_indices[p] for p in self.correct_positions)
