"""Grade cache: every candidate is graded once per grader version and the result appended.

results/pools/.../<key>/grades.<grader>-<version>.jsonl holds one row per candidate with a hash
of the candidate text and of the reference. A row is reused only while both hashes still match,
so fixing a reference answer or a candidate re-grades exactly the affected problems. Grading is
done per problem (answer clusters need the whole problem), and a problem's rows are appended
only once all of them are computed: a killed grading run never leaves a half-graded problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from harness.jsonl import Appender, read_records
from harness.pools import Pool, slugify
from harness.task import Grader
from harness.types import Candidate, Grade, Problem, Reference, stable_hash


@dataclass(frozen=True)
class GradeStats:
    cached: int
    graded: int
    errors: int  # grader failures (verdict "error"): counted, never scored as wrong

    def to_json(self) -> dict[str, int]:
        return {"cached": self.cached, "graded": self.graded, "errors": self.errors}


def grades_file(pool: Pool, grader: Grader):
    return pool.path / f"grades.{slugify(grader.name)}-{slugify(grader.version)}.jsonl"


def _ref_hash(ref: Reference) -> str:
    # Typed tests (harness.grading.code_types) hash as their JSON form, the dicts they used to be.
    tests = ref.tests.to_json() if hasattr(ref.tests, "to_json") else ref.tests
    return stable_hash({"answer": ref.answer, "tests": tests}, 12)


def _text_hash(text: str) -> str:
    return stable_hash(text, 12)


def load_or_grade(pool: Pool, grader: Grader, problems: Sequence[Problem],
                  references: Mapping[str, Reference], candidates: Mapping[str, Sequence[Candidate]],
                  *, workers: int = 0, progress: bool = True) -> tuple[dict[str, list[Grade]], GradeStats]:
    path = grades_file(pool, grader)
    cached: dict[tuple[str, int], dict] = {}
    if path.exists():
        _, rows = read_records(path, "grades")
        for row in rows:
            cached[(row["problem_id"], row["index"])] = row  # last row wins (re-grades append)

    result: dict[str, list[Grade]] = {}
    todo: list[Problem] = []
    n_cached = 0
    for problem in problems:
        cands = candidates.get(problem.id, ())
        if not cands:
            continue
        ref_hash = _ref_hash(references[problem.id])
        hits = [cached.get((problem.id, c.index)) for c in cands]
        if all(row is not None and row["text_hash"] == _text_hash(c.text) and row["ref_hash"] == ref_hash
               for row, c in zip(hits, cands)):
            result[problem.id] = [_grade_from_row(row) for row in hits if row is not None]
            n_cached += len(cands)
        else:
            todo.append(problem)

    n_graded = 0
    if todo:
        fresh = grader.grade(todo, references, {p.id: candidates[p.id] for p in todo},
                             workers=workers, progress=progress)
        with Appender(path, "grades", {"grader": grader.name, "grader_version": grader.version,
                                       "pool_key": pool.key}) as out:
            for problem in todo:
                grades = fresh[problem.id]
                ref_hash = _ref_hash(references[problem.id])
                texts = {c.index: c.text for c in candidates[problem.id]}
                out.write_many({**g.to_json(), "text_hash": _text_hash(texts[g.index]), "ref_hash": ref_hash}
                               for g in grades)
                result[problem.id] = grades
                n_graded += len(grades)
    errors = sum(1 for grades in result.values() for g in grades if g.verdict == "error")
    return result, GradeStats(cached=n_cached, graded=n_graded, errors=errors)


def _grade_from_row(row: dict) -> Grade:
    return Grade(problem_id=row["problem_id"], index=row["index"], verdict=row["verdict"],
                 correct=row["correct"], answer=row.get("answer"), cluster=row.get("cluster"),
                 detail=row.get("detail", ""))
