"""nemo-skills: NeMo-Skills generation outputs, one file per random seed (output-rs<seed>.jsonl).

As written by nemo_skills/inference/generate.py (NVIDIA/NeMo-Skills): each line is the input
data point (e.g. "problem", "expected_answer", maybe "id") updated with the model output
("generation", and unless add_generation_stats=False "num_generated_tokens", "generation_time",
...). The math evaluator (nemo_skills/evaluation/math_grader.py) later adds "predicted_answer"
and "symbolic_correct", and writes "{}" for a line whose generation never finished; the reward
model pipeline adds "reward_model_score". Lines are in input order, one per problem.

Index: per problem, seeds are numbered in numeric order after the seeds the pool already
holds, so a fresh import of seeds {0,3,7} gives indices 0,1,2 and adding seeds 4..7 later
appends them. The gold "expected_answer" is never copied into a candidate.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.importers.common import Parsed, PoolPlan, ProblemMatcher, ReadResult, get_field, iter_objects
from harness.jsonl import JsonlFormatError
from harness.types import Candidate, GenSpec

FORMAT = "nemo-skills"
SEED_FILE = re.compile(r"^output-rs(\d+)\.jsonl(?:\.gz)?$")
_ID_FIELDS = ("id", "problem_id")
_TEXT_FIELDS = ("problem", "question")
_SCALAR = (str, int, float, bool)


def seed_of(path: Path) -> int | None:
    match = SEED_FILE.match(path.name)
    return int(match.group(1)) if match else None


def read(files: list[Path], matcher: ProblemMatcher, *, model: str | None = None,
         split_by_model: bool = False, label: str | None = None) -> ReadResult:
    result = ReadResult(fmt=FORMAT, files=files)
    spec = GenSpec(backend="import", model=model or FORMAT, source=FORMAT)
    result.pools[FORMAT] = PoolPlan(spec, label or spec.model)
    for path in files:
        seed = seed_of(path)
        for line_no, obj in iter_objects(path):
            if not obj:
                continue  # "{}": NeMo-Skills' placeholder for a generation that did not finish
            where = f"{path}:{line_no}"
            text = get_field(obj, "generation", (str,), where, required=True)
            ids = [get_field(obj, name, (str, int), where) for name in _ID_FIELDS]
            statement = None
            for name in _TEXT_FIELDS:
                statement = statement or get_field(obj, name, (str,), where)
            if statement is None and all(v is None for v in ids):
                raise_missing(where)
            pid = matcher.match(ids, statement)
            if pid is None:
                matcher.note_unmatched(result, ids, statement)
                continue
            metadata: dict[str, Any] = {}
            for src, dst in (("predicted_answer", "source_extracted_answer"),
                             ("symbolic_correct", "source_is_correct"), ("judgement", "source_judgement")):
                value = get_field(obj, src, (bool,) if src == "symbolic_correct" else _SCALAR, where)
                if value is not None:
                    metadata[dst] = value
            if model:
                metadata["model"] = model
            if seed is None:
                metadata["source_file"] = path.name  # no seed in the name: the file tells samples apart
            rm = get_field(obj, "reward_model_score", (float,), where)
            result.rows.append(Parsed(pool=FORMAT, fixed=False, candidate=Candidate(
                problem_id=pid, index=-1, text=text, seed=seed,
                finish_reason=get_field(obj, "finish_reason", (str,), where),
                prompt_tokens=get_field(obj, "num_input_tokens", (int,), where),
                completion_tokens=get_field(obj, "num_generated_tokens", (int,), where),
                scores={"rm": rm} if rm is not None else {}, metadata=metadata)))
    return result


def raise_missing(where: str) -> None:
    raise JsonlFormatError(f"{where}: missing field 'problem' (or 'question', 'id', 'problem_id'): "
                           "cannot tell which problem this generation answers")
