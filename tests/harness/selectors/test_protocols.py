"""Selection protocols: the NeMo-Skills rules (--paper) against the harness defaults."""

from __future__ import annotations

import re

import numpy as np
import pytest

from harness.evaluate import EvalOptions, estimate
from harness.grading.math_answers import last_boxed_exact
from harness.judging import Judging
from harness.run import build_problem_pools
from harness.selectors.base import ProblemPool
from harness.selectors.genselect import GenSelect
from harness.selectors.judgment import parse_judgment, parse_judgment_strict
from harness.selectors.protocols import HARNESS, NEMO_MAX_CANDIDATE_CHARS, NEMO_SKILLS
from harness.selectors.voting import Majority
from harness.types import Candidate, Grade, Problem

from fakes import ScriptedBackend


@pytest.mark.parametrize("text,lenient,strict", [
    ("Judgment: 3", 3, 3),
    ("**Judgment:** 2", 2, None),  # bold markers: only the lenient parse reads them
    ("judgment: 1", 1, None),  # lower case
    ("Judgement: 1", 1, 1),  # NeMo-Skills' regex takes both spellings
    ("Judgment:  1", 1, None),  # two spaces
    ("Judgment: 1\nJudgment: 2", 2, 2),  # the last match wins in both
    ("<think>Judgment: 1</think> no verdict", None, 1),  # strict reads the raw text, thinking too
    ("Judgment: 9", None, None),  # out of range
    ("", None, None),
])
def test_strict_and_lenient_judgment_parsers(text, lenient, strict):
    assert parse_judgment(text, 5) == lenient
    assert parse_judgment_strict(text, 5) == strict


def test_last_boxed_exact_is_the_string_as_written():
    assert last_boxed_exact(r"so \boxed{\frac12} or \boxed{0.5}") == "0.5"
    assert last_boxed_exact(r"\boxed{1} and then \boxed 2") is None  # the last box is not {...}
    assert last_boxed_exact(r"\boxed{ 1/2 }") == " 1/2 "
    assert last_boxed_exact("no box") is None


def _pool(texts, clusters, statement="What is 1/2?"):
    return ProblemPool(problem=Problem("p", "t", statement), clusters=np.array(clusters), texts=tuple(texts))


def test_nemo_majority_counts_exact_boxed_strings_not_equivalence():
    """0.5 and \\frac{1}{2} are one answer to math-verify but two strings to NeMo-Skills."""
    texts = [r"\boxed{0.5}", r"\boxed{\frac{1}{2}}", r"\boxed{\frac{1}{2}}", r"\boxed{3}", r"\boxed{3}"]
    cands = {"p": [Candidate("p", i, t) for i, t in enumerate(texts)]}
    grades = {"p": [Grade("p", i, "ok", i < 3, cluster=0 if i < 3 else 1) for i in range(5)]}
    problems = [Problem("p", "t", "What is 1/2?")]
    (harness,), _ = build_problem_pools(problems, cands, grades, "math", "harness")
    (nemo,), correct = build_problem_pools(problems, cands, grades, "math", "nemo-skills")
    whole = np.arange(5)[None, :]
    assert (Majority().choose(harness, whole) * correct[0]).sum() == pytest.approx(1.0)  # 3 vs 2
    # NeMo-Skills: \frac{1}{2} (2 votes) ties 3 (2 votes): fractional credit 1/2.
    assert (Majority().choose(nemo, whole) * correct[0]).sum() == pytest.approx(0.5)


def test_long_candidates_are_dropped_in_nemo_and_cut_in_harness():
    long = "x" * (NEMO_MAX_CANDIDATE_CHARS + 1) + r" \boxed{2}"
    assert NEMO_SKILLS.view(long, "math", 3000) is None
    assert NEMO_SKILLS.view("y" * NEMO_MAX_CANDIDATE_CHARS, "math", 3000) == "y" * NEMO_MAX_CANDIDATE_CHARS
    cut = HARNESS.view(long, "math", 3000)
    assert cut.startswith("[...]") and cut.endswith(r"\boxed{2}") and len(cut) == 3005


def _run(rules: str, texts, clusters, tmp_path, kind="math", reply="Judgment: 0"):
    prompts = []

    def script(request):
        prompts.append(request.messages[0][1])
        return reply

    judge = ScriptedBackend(script)
    pool = ProblemPool(problem=Problem("p", "t", "Q"), clusters=np.array(clusters), texts=tuple(texts),
                       kind=kind)
    selector = GenSelect(judge_model="smollm2-135m", protocol_name=rules)
    correct = np.array([1.0] + [0.0] * (len(texts) - 1))
    out = estimate([selector], [pool], [correct], [len(texts)],
                   EvalOptions(progress=False, resamples=100, llm_draws=3),
                   Judging(tmp_path / rules / kind, backend_factory=lambda spec, options: judge))
    return out["genselect"], judge, prompts


def test_nemo_protocol_never_skips_the_judge_when_all_answers_agree(tmp_path):
    texts = [r"\boxed{7}"] * 4
    harness, judge_h, _ = _run("harness", texts, [0, 0, 0, 0], tmp_path)
    nemo, judge_n, _ = _run("nemo-skills", texts, [0, 0, 0, 0], tmp_path)
    assert judge_h.calls == 0 and harness.judge.skipped_windows == 3
    assert judge_n.calls == 3 and nemo.judge.skipped_windows == 0


def test_dropped_candidates_are_not_shown_and_the_choice_maps_back(tmp_path):
    long = "z" * (NEMO_MAX_CANDIDATE_CHARS + 10)
    texts = [long, r"\boxed{1}", r"\boxed{2}"]
    result, judge, prompts = _run("nemo-skills", texts, [0, 1, 2], tmp_path, reply="Judgment: 0")
    assert judge.calls == 3 and all("zzzz" not in p and "Solution 2" not in p for p in prompts)
    # "Solution 0" in the prompt is the first candidate that was kept, never the dropped one.
    for row in result.selections:
        shown = [c for c in row.order if c != 0]
        assert row.choice == {str(shown[0]): 1.0}


@pytest.mark.parametrize("rules", ["harness", "nemo-skills"])
def test_code_windows_are_always_judged(rules, tmp_path):
    """Programs that behave alike on the visible inputs may differ on hidden tests."""
    code = ["```python\nprint(input())\n```", "```python\nprint(input().strip())\n```"]
    _, judge, prompts = _run(rules, code, [0, 0], tmp_path, kind="code")
    assert judge.calls == 3 and all(re.search(r"Solution 1:\nprint", p) for p in prompts)
