"""The math grader: extraction + math-verify equivalence + answer clusters, in worker processes.

Work is split per problem so each worker parses every distinct answer string once and reuses it
for both grading and clustering. Processes, not threads: math-verify's timeouts use
signal.alarm, which only works in a process's main thread; and processes can be killed, which is
how a step that signal.alarm cannot interrupt is ended (harness.grading.killable).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Sequence

from harness.grading.killable import STEP_LIMIT_S, ProblemJob, grade_supervised
from harness.grading.math_answers import GRADER_NAME, GRADER_VERSION
from harness.progress import progress_bar
from harness.types import Candidate, Grade, Problem, Reference

# Below this many candidates, more than one worker costs more in start-up than it saves.
_PARALLEL_MIN_CANDIDATES = 200


@dataclass(frozen=True)
class MathGrader:
    integer_answers: bool = False
    name: str = GRADER_NAME
    step_limit_s: float = STEP_LIMIT_S  # a parse/verify step past this is killed and graded `error`

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
            jobs.append(ProblemJob(problem.id, gold, tuple(c.text for c in cands), self.integer_answers,
                                   tuple(c.index for c in cands)))
        total = sum(len(job.texts) for job in jobs)
        workers = workers or os.cpu_count() or 1
        if total < _PARALLEL_MIN_CANDIDATES:
            workers = 1
        with progress_bar(total=total, desc="grading", unit="cand", enabled=progress) as bar:
            outcome = grade_supervised(jobs, workers=workers, step_limit_s=self.step_limit_s,
                                       on_done=lambda job: bar.update(len(job.texts)))
        return {job.problem_id: outcome.grades[job.problem_id] for job in jobs}
