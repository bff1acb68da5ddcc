"""Math grading that can always be stopped (harness/grading/killable.py): a step that signal.alarm
cannot interrupt is ended by killing its worker; its candidate is graded `error`, never wrong."""

from __future__ import annotations

import time

from harness.grading.killable import ProblemJob, grade_supervised
from harness.grading.math_grader import MathGrader
from harness.types import Candidate, Problem, Reference

# sympy evaluates this power eagerly inside C while clustering compares it: it never returns, and
# math-verify's signal.alarm timeouts cannot stop it (measured: > 20 s, still running)
STUCK = "3^{2^{33}}"
PATHOLOGICAL = [STUCK, "2^{2^{2^{2^{2^{2}}}}}", "(10^{100000})!", "\\frac{" * 300 + "1" + "}{2}" * 300,
                "1" * 1_000_000]


def _boxed(answer: str) -> str:
    return f"so the answer is \\boxed{{{answer}}}"


def test_a_stuck_step_is_killed_graded_error_and_the_rest_is_graded():
    texts = (_boxed("5"), _boxed(STUCK), _boxed("10/2"), _boxed("6"))
    job = ProblemJob("p", "5", texts, False, (0, 1, 2, 3))
    start = time.monotonic()
    result = grade_supervised([job], workers=1, step_limit_s=3.0)
    seconds = time.monotonic() - start
    grades = result.grades["p"]
    assert [g.verdict for g in grades] == ["correct", "error", "correct", "wrong"]
    assert grades[1].correct is None and "killed" in grades[1].detail
    assert grades[0].cluster == grades[2].cluster != grades[3].cluster  # clustering went on around it
    assert grades[1].cluster not in (grades[0].cluster, grades[3].cluster)
    assert result.kills and all(k.problem_id == "p" and k.answer == STUCK for k in result.kills)
    assert seconds < 60


def test_pathological_answers_finish_in_bounded_time_and_are_counted():
    problems = [Problem(f"q{i}", "t", "?") for i in range(len(PATHOLOGICAL))]
    refs = {p.id: Reference(p.id, "7") for p in problems}
    cands = {p.id: [Candidate(p.id, 0, _boxed(a)), Candidate(p.id, 1, _boxed("7"))]
             for p, a in zip(problems, PATHOLOGICAL)}
    start = time.monotonic()
    grades = MathGrader(step_limit_s=3.0).grade(problems, refs, cands, workers=2, progress=False)
    assert time.monotonic() - start < 240
    for p in problems:
        first, plain = grades[p.id]
        assert plain.verdict == "correct"  # the ordinary candidate beside it is graded as usual
        assert first.verdict in ("wrong", "error") and (first.correct is None) == (first.verdict == "error")
    assert grades["q0"][0].verdict == "error"


def test_ordinary_grading_is_unchanged():
    problems = [Problem("a", "t", "?"), Problem("b", "t", "?")]
    refs = {"a": Reference("a", "\\frac{1}{2}"), "b": Reference("b", "025")}
    cands = {"a": [Candidate("a", 0, _boxed("0.5")), Candidate("a", 1, _boxed("2/4")),
                   Candidate("a", 2, "no answer here")],
             "b": [Candidate("b", 0, _boxed("25")), Candidate("b", 1, _boxed("24"))]}
    grades = MathGrader(integer_answers=True).grade(problems, refs, cands, progress=False)
    assert [g.verdict for g in grades["a"]] == ["correct", "correct", "no_answer"]
    assert grades["a"][0].cluster == grades["a"][1].cluster and grades["a"][2].cluster is None
    assert [g.verdict for g in grades["b"]] == ["correct", "wrong"]
