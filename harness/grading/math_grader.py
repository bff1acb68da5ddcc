"""The math grader: extraction + math-verify equivalence + answer clusters, in worker processes.

Work is split per problem so each worker parses every distinct answer string once and reuses it
for both grading and clustering. Processes, not threads: math-verify's timeouts use
signal.alarm, which only works in a process's main thread.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Mapping, Sequence

from harness.grading.math_answers import (
    GRADER_NAME,
    GRADER_VERSION,
    AnswerGrade,
    cluster_answers,
    extract_answer,
    grade_answer,
)
from harness.progress import progress_bar
from harness.types import Candidate, Grade, Problem, Reference

# Below this many candidates, process start-up costs more than it saves.
_PARALLEL_MIN_CANDIDATES = 200


def grade_problem(problem_id: str, gold: str, texts: Sequence[str], integer: bool,
                  indices: Sequence[int] | None = None) -> list[Grade]:
    extractions = [extract_answer(text) for text in texts]
    answers = [e.answer for e in extractions]
    clusters = cluster_answers(answers, integer=integer)
    parsed_cache: dict = {}
    by_answer: dict[str | None, AnswerGrade] = {}
    grades = []
    indices = list(indices) if indices is not None else list(range(len(texts)))
    for index, extraction, cluster in zip(indices, extractions, clusters):
        if extraction.answer not in by_answer:
            by_answer[extraction.answer] = grade_answer(extraction.answer, gold, integer=integer,
                                                        parsed_cache=parsed_cache)
        verdict = by_answer[extraction.answer]
        grades.append(Grade(problem_id=problem_id, index=index, verdict=verdict.verdict,
                            correct=verdict.correct, answer=extraction.answer, cluster=cluster,
                            detail=f"{extraction.method}; {verdict.detail}".strip("; ")))
    return grades


def _grade_job(job: tuple) -> list[Grade]:
    return grade_problem(*job)


@dataclass(frozen=True)
class MathGrader:
    integer_answers: bool = False
    name: str = GRADER_NAME

    @property
    def version(self) -> str:
        return f"{GRADER_VERSION}{'-int' if self.integer_answers else ''}"

    def grade(self, problems: Sequence[Problem], references: Mapping[str, Reference],
              candidates: Mapping[str, Sequence[Candidate]], *, workers: int = 0,
              progress: bool = True) -> dict[str, list[Grade]]:
        jobs = []
        for problem in problems:
            cands = sorted(candidates.get(problem.id, ()), key=lambda c: c.index)
            if not cands:
                continue
            gold = references[problem.id].answer
            if gold is None:
                raise ValueError(f"problem {problem.id} has no reference answer to grade against")
            jobs.append((problem.id, gold, [c.text for c in cands], self.integer_answers,
                         [c.index for c in cands]))
        total = sum(len(job[2]) for job in jobs)
        workers = workers or os.cpu_count() or 1
        results: dict[str, list[Grade]] = {}
        with progress_bar(total=total, desc="grading", unit="cand", enabled=progress) as bar:
            if workers <= 1 or total < _PARALLEL_MIN_CANDIDATES:
                for job in jobs:
                    results[job[0]] = grade_problem(*job)
                    bar.update(len(job[2]))
            else:
                with ProcessPoolExecutor(max_workers=workers) as pool:
                    for job, grades in zip(jobs, pool.map(_grade_job, jobs, chunksize=4)):
                        results[job[0]] = grades
                        bar.update(len(job[2]))
        return results
