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

from harness.grading.math_answers import canonical_integer, extract_answer, final_segment, normalize_integer
from harness.types import Candidate, Grade, Problem, Reference, stable_hash

# Answers of up to this many digits are Python ints; longer ones (int() and JSON refuse them
# beyond 4,300 digits, and no reference is that long) stay canonical digit strings.
_INT_DIGITS = 4000
# Clusters of such answers: an int above every _INT_DIGITS-digit value, from a hash of the digits.
_LONG_CLUSTER_BASE = 10 ** (_INT_DIGITS + 1)


def extract_integer(text: str) -> tuple[int | str | None, str]:
    """The answer as an int (its canonical digit string beyond _INT_DIGITS digits) and the rule used."""
    explicit = extract_answer(text)
    if explicit.answer is not None:
        value = normalize_integer(explicit.answer)
        if value is not None:
            return _as_value(value), explicit.method
    numbers = re.findall(r"-?\d[\d,]*", final_segment(text).replace(",", ""))
    return (_as_value(canonical_integer(numbers[-1])), "last-integer") if numbers else (None, "none")


def _as_value(canonical: str) -> int | str:
    return int(canonical) if len(canonical) <= _INT_DIGITS else canonical


@dataclass(frozen=True)
class IntegerGrader:
    name: str = "integer"
    version: str = "int1"

    def grade(self, problems: Sequence[Problem], references: Mapping[str, Reference],
              candidates: Mapping[str, Sequence[Candidate]], *, workers: int = 0,
              progress: bool = True) -> dict[str, list[Grade]]:
        out: dict[str, list[Grade]] = {}
        for problem in problems:
            gold = _as_value(canonical_integer(str(references[problem.id].answer).strip()))
            grades = []
            for cand in candidates.get(problem.id, ()):
                value, method = extract_integer(cand.text)
                if value is None:
                    grades.append(Grade(problem.id, cand.index, "no_answer", False, None, None, method))
                else:
                    ok = value == gold
                    answer, cluster = ((str(value), value) if isinstance(value, int) else
                                       (f"{value[:24]}... ({len(value)} digits)",
                                        _LONG_CLUSTER_BASE + int(stable_hash(value, 15), 16)))
                    grades.append(Grade(problem.id, cand.index, "correct" if ok else "wrong", ok,
                                        answer, cluster, method))
            out[problem.id] = grades
        return out
