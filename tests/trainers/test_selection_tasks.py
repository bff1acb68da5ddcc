"""The paper's selection tasks (issue "Conformance", point 7; PAPER.md, "Training data").

Math candidates: a closed `</think>` when `<think>` was opened and exactly one `\\boxed{}` in the
final segment (builder option `require_boxed_answer`, on in paper-math, off for the CPU arith
configs); wrong candidates with no answer are dropped; the set size is drawn symmetrically
around the middle of [2, min(total, 16)]; the build reports the distribution of set sizes and of
correct candidates per set.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from harness.types import Candidate, Grade, Problem
from trainers.eval_guard import EvalGuard
from trainers.selection_data import (
    BuildOptions,
    BuildStats,
    PoolSource,
    boxed_count,
    build_selection_tasks,
    draw_set_size,
    problem_tasks,
    set_size_weights,
)

PROBLEM = Problem("ms-1", "synthetic-math", "Compute 6 times 7 and give the result in a box.", {})


def _graded(texts_and_verdicts):
    """(text, correct, answer) -> candidates and grades of one problem."""
    cands, grades = [], []
    for j, (text, ok, answer) in enumerate(texts_and_verdicts):
        cands.append(Candidate(PROBLEM.id, j, text))
        verdict = "correct" if ok else ("wrong" if answer else "no_answer")
        grades.append(Grade(PROBLEM.id, j, verdict, ok, answer))
    return cands, grades


def _build(pool, opts, kind="math"):
    cands, grades = _graded(pool)
    stats = BuildStats()
    out = problem_tasks(PROBLEM, cands, grades, kind=kind, opts=opts, count_tokens=len, stats=stats,
                        pool_key="k")
    return out, stats


def _shown(records):
    return {i for r in records for i in r.shown_indices}


GOOD_RIGHT = ("<think>6*7=42</think>The product is \\boxed{42}.", True, "42")
GOOD_WRONG = ("<think>6*7=48?</think>So \\boxed{48}.", False, "48")
GOOD_WRONG2 = ("<think>hmm</think>It is \\boxed{36}.", False, "36")
GOOD_WRONG3 = ("<think>guess</think>Final: \\boxed{13}.", False, "13")
UNFINISHED = ("<think>6*7 is \\boxed{42} maybe, let me check again and again", False, None)
TWO_BOXES = ("<think>ok</think>Either \\boxed{40} or \\boxed{41}.", False, "41")
BOX_IN_THINKING_ONLY = ("<think>draft \\boxed{45}</think>The answer is 45.", False, "45")
NO_ANSWER = ("<think>I am not sure.</think>I cannot tell.", False, None)
PLAIN_WRONG = ("6 times 7 is 43.", False, "43")  # an answer, no box and no thinking (arith-like)


def test_boxed_rule_needs_closed_thinking_and_exactly_one_box_in_the_final_segment():
    assert boxed_count("a \\boxed{1} b \\boxed{2}") == 2 and boxed_count("none") == 0
    pool = [GOOD_RIGHT, GOOD_WRONG, GOOD_WRONG2, GOOD_WRONG3, UNFINISHED, TWO_BOXES, BOX_IN_THINKING_ONLY,
            PLAIN_WRONG]
    out, stats = _build(pool, BuildOptions(require_boxed_answer=True, max_pass_rate=0.5, tasks_per_problem=4))
    assert out and _shown(out) <= {0, 1, 2, 3}  # only the well-formed candidates are ever shown
    assert stats.dropped_unfinished_thinking == 1
    assert stats.dropped_not_one_boxed == 3  # two boxes; box only while thinking; no box at all
    for rec in out:
        assert rec.pass_rate == pytest.approx(1 / 8)  # the generator's, before any filter
    # the option off (the default): the same pool keeps every candidate that has an answer
    loose, loose_stats = _build(pool, BuildOptions(max_pass_rate=0.5, tasks_per_problem=4, seed=3))
    assert loose_stats.dropped_not_one_boxed == loose_stats.dropped_unfinished_thinking == 0
    assert 4 not in _shown(loose)  # UNFINISHED has no answer: dropped as wrong-without-answer
    assert loose_stats.dropped_unanswered_wrong == 1


def test_wrong_candidates_without_an_answer_are_dropped():
    pool = [GOOD_RIGHT, GOOD_WRONG, NO_ANSWER, NO_ANSWER, NO_ANSWER]
    out, stats = _build(pool, BuildOptions(max_pass_rate=0.5))
    assert stats.dropped_unanswered_wrong == 3
    # one correct + one answered wrong remain: every task is exactly that pair
    assert out and all(sorted(r.shown_indices) == [0, 1] for r in out)
    # without the rule the unanswered ones are shown too (kept as an option for old datasets)
    kept, kept_stats = _build(pool, BuildOptions(max_pass_rate=0.5, drop_unanswered_wrong=False, seed=1))
    assert kept_stats.dropped_unanswered_wrong == 0 and _shown(kept) & {2, 3, 4}
    # a problem left with no answered wrong candidate has no task
    none, none_stats = _build([GOOD_RIGHT, NO_ANSWER, NO_ANSWER], BuildOptions(max_pass_rate=0.5))
    assert none == [] and none_stats.dropped_no_incorrect == 1


def test_a_correct_candidate_failing_the_format_leaves_the_problem_without_a_task():
    malformed_right = ("<think>x</think>\\boxed{42} and again \\boxed{42}", True, "42")
    out, stats = _build([malformed_right, GOOD_WRONG, GOOD_WRONG2], BuildOptions(require_boxed_answer=True))
    assert out == [] and stats.dropped_no_correct == 1 and stats.dropped_not_one_boxed == 1


def test_filters_apply_to_math_only():
    pool = [("def f(): return 42", True, None), ("def f(): return 41", False, None),
            ("def f(): return 40", False, None)]
    out, stats = _build(pool, BuildOptions(require_boxed_answer=True), kind="code")
    assert out and stats.dropped_unanswered_wrong == 0 and stats.dropped_not_one_boxed == 0


def test_arith_still_builds_tasks_with_the_cpu_defaults():
    """The embedded arith task (kind "math", no <think>, no \\boxed) keeps producing tasks: the
    boxed rule is off by default (the CPU configs), on in paper-math only."""
    from tasks.arith import arith
    from trainers.train import load_config

    task = arith(None, "level=mul1,n=6,split=train,seed=0")
    problems = task.problems()
    cands = {}
    for p in problems:
        a, b = p.metadata["operands"]
        values = [a * b, a * b + 1, a * b - 1, a * b + 2, a * b + 3]
        cands[p.id] = [Candidate(p.id, j, f"{a} times {b} is {v}.") for j, v in enumerate(values)]
        cands[p.id].append(Candidate(p.id, 5, "I do not know."))  # wrong, no answer: dropped
    grades = task.grader().grade(problems, task.references(), cands, progress=False)

    class _Pool:
        key, ref = "arith-pool", "arith/synthetic/arith-pool"

    src = PoolSource(pool=_Pool(), task=task, candidates=cands, grades=grades)
    for name in ("cpu-smoke", "cpu-miniature"):
        build = load_config(name)["data"]["build"]
        assert not build.get("require_boxed_answer", False)
        records, stats = build_selection_tasks([src], BuildOptions.from_dict(build), guard=EvalGuard())
        assert records and stats.kept_problems == len(problems)
        assert stats.dropped_unanswered_wrong == len(problems) and 5 not in _shown(records)
    boxed, boxed_stats = build_selection_tasks([src], BuildOptions(require_boxed_answer=True),
                                               guard=EvalGuard())
    assert boxed == [] and boxed_stats.dropped_not_one_boxed > 0  # why the CPU configs leave it off
    assert load_config("paper-math")["data"]["build"]["require_boxed_answer"] is True


# -- the set size ------------------------------------------------------------------------------


@pytest.mark.parametrize("total", [2, 3, 4, 7, 10, 16, 17, 40])
def test_set_size_distribution_is_symmetric_around_the_middle(total):
    opts = BuildOptions()
    weights = set_size_weights(total, opts)
    lo, hi = 2, min(total, 16)
    assert sorted(weights) == list(range(lo, hi + 1)) and sum(weights.values()) == pytest.approx(1.0)
    for j in range(hi - lo + 1):
        assert weights[lo + j] == pytest.approx(weights[hi - j])  # symmetric
    mean = sum(k * w for k, w in weights.items())
    assert mean == pytest.approx((lo + hi) / 2)  # centred on the middle
    if hi - lo >= 2:  # the middle is the most likely
        assert max(weights, key=weights.get) in (int((lo + hi) // 2), int(-(-(lo + hi) // 2)))


def test_set_size_draws_follow_the_weights():
    opts = BuildOptions()
    rng = random.Random(0)
    draws = Counter(draw_set_size(rng, 16, opts) for _ in range(20000))
    weights = set_size_weights(16, opts)
    assert set(draws) <= set(weights)
    for k, w in weights.items():
        assert abs(draws[k] / 20000 - w) < 0.01
    assert abs(sum(k * n for k, n in draws.items()) / 20000 - 9.0) < 0.05
    assert weights[9] == pytest.approx(0.118, abs=0.001) and weights[2] == pytest.approx(0.016, abs=0.001)
    assert draw_set_size(rng, 2, opts) == 2 and set_size_weights(2, opts) == {2: 1.0}


def test_builder_reports_set_size_and_correct_count_distributions(capsys):
    problems = [Problem(f"d-{i}", "synthetic-math", f"Distribution problem {i}: what is {i} squared?", {})
                for i in range(12)]
    cands, grades = {}, {}
    for p in problems:
        cands[p.id] = [Candidate(p.id, j, f"<think>t</think>Answer \\boxed{{{j}}}") for j in range(16)]
        grades[p.id] = [Grade(p.id, j, "correct" if j < 4 else "wrong", j < 4, str(j)) for j in range(16)]

    class _Task:
        kind = "math"

        def problems(self):
            return problems

    class _Pool:
        key, ref = "dist", "synthetic/dist"

    src = PoolSource(pool=_Pool(), task=_Task(), candidates=cands, grades=grades)
    records, stats = build_selection_tasks([src], BuildOptions(require_boxed_answer=True), guard=EvalGuard())
    sizes = Counter(r.n_candidates for r in records)
    correct = Counter(len(r.correct_positions) for r in records)
    assert stats.set_sizes == dict(sizes) and stats.correct_per_set == dict(correct)
    assert sum(stats.set_sizes.values()) == len(records) == 48
    assert all(1 <= c <= 4 for c in stats.correct_per_set)
    as_json = stats.to_json()
    assert as_json["set_sizes"] == {str(k): v for k, v in sorted(sizes.items())}
    assert list(as_json["correct_per_set"]) == [str(k) for k in sorted(correct)]
    printed = capsys.readouterr().out
    assert "set sizes {" in printed and "correct per set {" in printed
    assert " ".join(f"{k}:{v}" for k, v in sorted(sizes.items())) in printed
    # with rotations, a set is counted once whatever the number of its rotations
    rotated, rot_stats = build_selection_tasks([src], BuildOptions(rotate_positions=True), guard=EvalGuard())
    assert rot_stats.set_sizes == stats.set_sizes and len(rotated) == sum(k * n for k, n in sizes.items())
