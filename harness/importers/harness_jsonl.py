"""harness-jsonl: the pool files of shared/data/pools/<benchmark>/<model>.jsonl.

One line per candidate: problem_id, model, sample_index, response, and optional source_* /
parsed_* fields (kept in metadata; source_rm_score also becomes scores["rm"]).

One model in the input (or split_by_model): one pool per model, index = sample_index.
Several models, not split: one cross-model pool whose candidates are numbered per problem in
(model, sample_index) order, after any the pool already holds; metadata records model and
sample_index so a repeated import finds them again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.importers.common import Parsed, PoolPlan, ProblemMatcher, ReadResult, get_field, iter_objects
from harness.jsonl import JsonlFormatError
from harness.types import Candidate, GenSpec

FORMAT = "harness-jsonl"
_MAPPED = {"problem_id", "sample_index", "response", "finish_reason", "prompt_tokens",
           "completion_tokens", "seed"}


def read(files: list[Path], matcher: ProblemMatcher, *, model: str | None = None,
         split_by_model: bool = False, label: str | None = None) -> ReadResult:
    result = ReadResult(fmt=FORMAT, files=files)
    rows: list[tuple[str, Candidate]] = []  # (model, candidate with index = sample_index)
    models: set[str] = set()
    for path in files:
        for line_no, obj in iter_objects(path):
            where = f"{path}:{line_no}"
            pid = get_field(obj, "problem_id", (str,), where, required=True)
            row_model = get_field(obj, "model", (str,), where, required=model is None) or model
            assert row_model is not None  # the field is required when no model is given
            sample_index = get_field(obj, "sample_index", (int,), where, required=True)
            if sample_index < 0:
                raise _bad(where, "sample_index", "must be >= 0")
            text = get_field(obj, "response", (str,), where, required=True)
            rm = get_field(obj, "source_rm_score", (float,), where)
            get_field(obj, "source_is_correct", (bool,), where)
            get_field(obj, "parsed_json_answer", (str,), where)
            models.add(row_model)
            if matcher.match([pid], None) is None:
                matcher.note_unmatched(result, [pid], None)
                continue
            metadata: dict[str, Any] = {k: v for k, v in obj.items() if k not in _MAPPED}
            metadata["model"] = row_model
            rows.append((row_model, Candidate(
                problem_id=pid, index=sample_index, text=text,
                finish_reason=get_field(obj, "finish_reason", (str,), where),
                prompt_tokens=get_field(obj, "prompt_tokens", (int,), where),
                completion_tokens=get_field(obj, "completion_tokens", (int,), where),
                seed=get_field(obj, "seed", (int,), where),
                scores={"rm": rm} if rm is not None else {}, metadata=metadata)))

    if split_by_model or len(models) <= 1:
        for name in sorted(models):
            pool_label = label if label and len(models) == 1 else name
            result.pools[name] = PoolPlan(GenSpec(backend="import", model=name, source=FORMAT), pool_label)
        result.rows = [Parsed(pool=name, candidate=cand, fixed=True) for name, cand in rows]
    else:
        joined = "+".join(sorted(models))
        spec = GenSpec(backend="import", model=f"cross-model:{joined}", source=FORMAT)
        result.pools["cross-model"] = PoolPlan(spec, label or "cross-model")
        result.rows = [Parsed(pool="cross-model", fixed=False, candidate=Candidate(
            **{**cand.to_json(), "metadata": {**cand.metadata, "sample_index": cand.index}}))
            for _, cand in rows]
    return result


def _bad(where: str, name: str, why: str) -> JsonlFormatError:
    return JsonlFormatError(f"{where}: field {name!r} {why}")
