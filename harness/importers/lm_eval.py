"""lm-eval: `lm_eval --log_samples` per-sample logs (samples_<task>_<date>.jsonl).

Shape, from lm_eval/evaluator.py (EleutherAI/lm-evaluation-harness, 0.4.x): one line per
(doc, filter) with "doc_id", "doc" (the dataset row), "target", "arguments",
"resps": [req.resps for req in requests], "filtered_resps", "filter", "metrics", hashes and the
metric values. For generate_until there is one request per doc and `repeats: k` clones it k
times, each output appended to that request's resps, so resps is [["g1", ..., "gk"]]. Other
writers give [["g1"], ["g2"], ...] or a flat ["g1", ...]; all are flattened in order.

Raw `resps` are used, never `filtered_resps` (a filter such as majority vote collapses the
repeats). A task with several filters logs each doc once per filter with the same resps: the
first line for a doc_id wins. Index = position of the repeat; when several files hold the same
problem, later files continue the numbering. Gold fields (target, per-doc metrics) are dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.importers.common import Parsed, PoolPlan, ProblemMatcher, ReadResult, get_field, iter_objects
from harness.jsonl import JsonlFormatError
from harness.types import Candidate, GenSpec

FORMAT = "lm-eval"
_ID_FIELDS = ("id", "problem_id", "ID")
_TEXT_FIELDS = ("problem", "question", "Problem", "Question")


def flatten_resps(resps: list[Any], where: str) -> list[str]:
    out: list[str] = []
    for item in resps:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, list) and all(isinstance(x, str) for x in item):
            out.extend(item)
        else:
            raise JsonlFormatError(
                f"{where}: field 'resps' must hold generated strings ([[str, ...]] or [[str], ...]); "
                f"found {type(item).__name__} {str(item)[:40]!r} (a loglikelihood task has no generations)")
    return out


def read(files: list[Path], matcher: ProblemMatcher, *, model: str | None = None,
         split_by_model: bool = False, label: str | None = None) -> ReadResult:
    result = ReadResult(fmt=FORMAT, files=files)
    spec = GenSpec(backend="import", model=model or FORMAT, source=FORMAT)
    result.pools[FORMAT] = PoolPlan(spec, label or spec.model)
    next_index: dict[str, int] = {}
    for path in files:
        seen_docs: set[int] = set()
        for line_no, obj in iter_objects(path):
            where = f"{path}:{line_no}"
            doc_id = get_field(obj, "doc_id", (int,), where, required=True)
            doc = get_field(obj, "doc", (dict,), where, required=True)
            resps = get_field(obj, "resps", (list,), where, required=True)
            texts = flatten_resps(resps, where)
            if doc_id in seen_docs:
                continue  # the same doc logged again under another filter
            seen_docs.add(doc_id)
            ids = [doc.get(name) for name in _ID_FIELDS if isinstance(doc.get(name), (str, int))]
            statement = next((doc[name] for name in _TEXT_FIELDS if isinstance(doc.get(name), str)), None)
            pid = matcher.match(ids, statement)
            if pid is None:
                named = ids or ([] if statement else [f"{path.name}#doc{doc_id}"])
                matcher.note_unmatched(result, named, statement)
                continue
            start = next_index.get(pid, 0)
            next_index[pid] = start + len(texts)
            for position, text in enumerate(texts):
                metadata: dict[str, Any] = {"doc_id": doc_id, "repeat": position}
                if model:
                    metadata["model"] = model
                result.rows.append(Parsed(pool=FORMAT, fixed=True, candidate=Candidate(
                    problem_id=pid, index=start + position, text=text, metadata=metadata)))
    return result
