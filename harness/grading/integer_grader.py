"""Exact-integer grader for tasks whose answers are integers (the embedded `arith` task).

Extraction: an explicit final answer (boxed, JSON "answer", "the answer is ...") when it is an
integer, else the last integer in the final segment of the text. Small chat models answer in
prose ("3 + 4 is 7."), where the last number is the one they commit to. Answers cluster by
value. No math-verify needed, so this grader is fast and cannot time out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

from harness.grading.math_answers import extract_answer, final_segment, normalize_integer
from harness.types import Candidate, Grade, Problem, Reference


def extract_integer(text: str) -> tuple[int | None, str]:
    explicit = extract_answer(text)
    if explicit.answer is not None:
        value = normalize_integer(explicit.answer)
        if value is not None:
            return int(value), explicit.method
    numbers = re.findall(r"-?\d[\d,]*", final_segment(text).replace(",", ""))
    return (int(numbers[-1]), "last-integer") if numbers else (None, "none")


@dataclass(frozen=True)
class IntegerGrader:
    name: str = "integer"
    version: str = "int1"

    def grade(self, problems: Sequence[Problem], references: Mapping[str, Reference],
              candidates: Mapping[str, Sequence[Candidate]], *, workers: int = 0,
              progress: bool = True) -> dict[str, list[Grade]]:
        out: dict[str, list[Grade]] = {}
        for problem in problems:
            gold = int(str(references[problem.id].answer))
            grades = []
            for cand in candidates.get(problem.id, ()):
                value, method = extract_integer(cand.text)
                if value is None:
                    grades.append(Grade(problem.id, cand.index, "no_answer", False, None, None, method))
                else:
                    ok = value == gold
                    grades.append(Grade(problem.id, cand.index, "correct" if ok else "wrong", ok,
                                        str(value), value, method))
            out[problem.id] = grades
        return out
