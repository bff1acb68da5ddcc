"""Tests for harness.grading.math_answers: extraction, integer normalisation, grading against the
real AIME 2024/2025 and HMMT Feb 2025 reference answers, clustering, and grader-failure handling.

The reference-answer tests read $HARNESS_DATA_DIR/<bench>/problems.jsonl and are skipped when the
variable is unset.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import math_verify
import pytest

from harness.grading import math_answers
from harness.grading.math_answers import (
    Extraction,
    cluster_answers,
    equivalent,
    extract_answer,
    final_segment,
    grade_answer,
    normalize_integer,
    parse_answer,
)

DATA_DIR = os.environ.get("HARNESS_DATA_DIR")


def _problems(bench: str) -> list:
    if not DATA_DIR:
        return [pytest.param(None, id=f"{bench}-no-data",
                             marks=pytest.mark.skip(reason="HARNESS_DATA_DIR is not set"))]
    path = Path(DATA_DIR) / bench / "problems.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [pytest.param(row, id=row["id"]) for row in rows]


# --------------------------------------------------------------------------- extraction

MATH_L5_RESPONSE = (
    '```json\n{\n    "reasoning": "First we note that the probability is \\\\frac{1}{2} for each\n'
    'coin, so the answer is not \\\\boxed-worthy yet. Then we multiply by \\\\frac{3}{2}.",\n'
    '    "answer": "\\\\frac{3}{4}"\n}\n```'
)

EXTRACTION_CASES = [
    # (id, response, expected answer, expected method)
    ("last-boxed-wins", r"First \boxed{1}, then corrected: \boxed{2}.", "2", "boxed"),
    ("nested-braces", r"So $x = \boxed{\frac{1}{2}}$.", r"\frac{1}{2}", "boxed"),
    ("deeply-nested", r"\boxed{\frac{\sqrt{3}}{2^{10}}}", r"\frac{\sqrt{3}}{2^{10}}", "boxed"),
    ("boxed-with-space", r"Hence \boxed {42}", "42", "boxed"),
    ("fbox", r"Hence \fbox{7}", "7", "boxed"),
    ("escaped-braces", r"\boxed{\{1,2\}}", r"\{1,2\}", "boxed"),
    ("unterminated-skipped", r"\boxed{3} and finally \boxed{4", "3", "boxed"),
    ("empty-boxed-skipped", r"\boxed{5} and \boxed{}", "5", "boxed"),
    ("boxed-dollars-stripped", r"\boxed{$12$}", "12", "boxed"),
    ("think-split", "<think>maybe \\boxed{1}?</think>\nThe result is \\boxed{2}.", "2", "boxed"),
    ("think-only-phrase-after", "<think>maybe \\boxed{1}</think>The final answer is 3.", "3",
     "answer-phrase"),
    ("last-think-tag", "<think>\\boxed{1}</think>\\boxed{2}</think>none", None, "none"),
    # Thinking that never closed (token limit): a boxed draft inside it is not an answer.
    ("unfinished-thinking", "<think>so it is \\boxed{7}, wait, let me recheck", None, "none"),
    ("unfinished-thinking-phrase", "<think>The answer is 7. Hmm, but", None, "none"),
    ("json-math-l5", MATH_L5_RESPONSE, r"\frac{3}{4}", "json"),
    ("json-number", '```json\n{"reasoning": "easy", "answer": -12}\n```', "-12", "json"),
    ("json-last-wins", '{"answer": "1"} then {"answer": "2"}', "2", "json"),
    ("json-escaped-quote", '{"answer": "\\\\text{\\"B\\"}"}', r'\text{"B"}', "json"),
    # models often write single-backslash LaTeX inside JSON: \f and \n must not become controls
    ("json-raw-latex", '{"answer": "-\\frac{2}{5}"}', r"-\frac{2}{5}", "json"),
    ("json-raw-neq", '{"answer": "x \\neq 3"}', r"x \neq 3", "json"),
    ("json-unicode-escape", '{"answer": "\\u221a2"}', "\u221a2", "json"),
    # a box inside a JSON string is found by rule 1, with the JSON escapes decoded
    ("json-escaped-boxed", '{"answer": "so $\\\\boxed{\\\\frac{1}{2}}$"}', r"\frac{1}{2}", "boxed"),
    # rule 2's own box lookup: only visible after decoding (here a \u005c backslash escape)
    ("json-boxed-after-decoding", '{"answer": "\\u005cboxed{7} cm"}', "7", "json"),
    ("json-dollars", '{"answer": "$\\\\sqrt{2}$"}', r"\sqrt{2}", "json"),
    ("phrase-final", "Thus the final answer is $\\frac{1}{2}$.", r"\frac{1}{2}", "answer-phrase"),
    ("phrase-the-answer", "So the answer is 17.\nDone.", "17", "answer-phrase"),
    ("phrase-answer-colon", "Work...\nAnswer: \\(x = 3\\)", "x = 3", "answer-phrase"),
    ("phrase-case-bold", "**FINAL ANSWER:** 12", "12", "answer-phrase"),
    ("phrase-last-wins", "the answer is 1\nactually, the answer is 2", "2", "answer-phrase"),
    ("none", "I could not solve this problem.", None, "none"),
    ("empty", "", None, "none"),
]


@pytest.mark.parametrize("text,answer,method", [c[1:] for c in EXTRACTION_CASES],
                         ids=[c[0] for c in EXTRACTION_CASES])
def test_extract_answer(text: str, answer: str | None, method: str) -> None:
    assert extract_answer(text) == Extraction(answer, method)


def test_final_segment() -> None:
    assert final_segment("a</think>b</think>c") == "c"
    assert final_segment("no tags") == "no tags"
    assert final_segment("<think>draft \\boxed{1} still going") == ""  # unfinished: no final part
    assert final_segment("</think>only a closing tag") == "only a closing tag"


def test_math_l5_pool_json_is_extracted() -> None:
    """Real pool rows: ZeroEval responses are JSON answers in fences; most must come out as json."""
    if not DATA_DIR:
        pytest.skip("HARNESS_DATA_DIR is not set")
    path = Path(DATA_DIR) / "pools" / "math_l5" / "Qwen2.5-32B-Instruct.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:60]]
    methods = [extract_answer(row["response"]).method for row in rows]
    assert methods.count("json") >= 50, methods


# --------------------------------------------------------------------------- integers

INTEGER_CASES = [
    ("025", "25"), ("  7 ", "7"), ("25.", "25"), ("$25$", "25"), ("25^\\circ", "25"),
    ("25^{\\circ}", "25"), ("\\text{25}", "25"), ("1,000", "1000"), ("1{,}000", "1000"),
    ("$\\text{033}$.", "33"), ("\\(7\\)", "7"), ("-5", "-5"), ("+5", "5"), ("000", "0"),
    ("25.5", None), ("x=3", None), ("", None), ("1,00", None), ("2 5", None), ("25.0", None),
    ("\\frac{50}{2}", None), ("12,345,678", "12345678"),
]


@pytest.mark.parametrize("raw,expected", INTEGER_CASES)
def test_normalize_integer(raw: str, expected: str | None) -> None:
    assert normalize_integer(raw) == expected


# --------------------------------------------------------------------------- parsing

@pytest.mark.parametrize("raw", ["1/2", "0.5", r"\frac{1}{2}", r"2^{25} \cdot 26!",
                                 r"\frac{9 \sqrt{23}}{23}", "(1,2)", "x=3", r"\text{(B)}",
                                 r"10\%", "3, 5", r"\frac{-1\pm\sqrt{17}}{2}"])
def test_parse_answer_ok(raw: str) -> None:
    assert parse_answer(raw).ok


@pytest.mark.parametrize("raw", ["", "   ", r"\frac{", "}}}", "$$$", r"\boxed{", "\\", "{"])
def test_parse_answer_never_raises(raw: str) -> None:
    parsed = parse_answer(raw)
    assert parsed.ok or parsed.error


# --------------------------------------------------------------------------- benchmark answers

def _aime_rows() -> list:
    return _problems("aime24") + _problems("aime25")


@pytest.mark.parametrize("integer", [True, False], ids=["int", "latex"])
@pytest.mark.parametrize("row", _aime_rows())
def test_aime_reference_answers(row: dict, integer: bool) -> None:
    gold = row["answer"]
    n = int(gold)
    assert 0 <= n <= 999 and row["metadata"]["answer_type"] == "integer"
    cache: dict = {}
    extraction = extract_answer(f"Adding the cases, the total is \\boxed{{{n}}}, as required.")
    assert extraction == Extraction(str(n), "boxed")
    for form in (f"{n:03d}", extraction.answer, f"{n}.", f"${n}$", row["metadata"]["answer_raw"]):
        grade = grade_answer(form, gold, integer=integer, parsed_cache=cache)
        assert (grade.verdict, grade.correct) == ("correct", True), (form, grade)
    for miss in (n + 1, n - 1, n * 10, f"{n + 1:03d}"):
        grade = grade_answer(str(miss), gold, integer=integer, parsed_cache=cache)
        assert (grade.verdict, grade.correct) == ("wrong", False), (miss, grade)


def _top_level_parts(latex: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, c in enumerate(latex):
        depth += c in "{(" and 1 or c in "})" and -1 or 0
        if c == "," and depth == 0:
            parts.append(latex[start:i].strip())
            start = i + 1
    return parts + [latex[start:].strip()]


def _near_misses(gold: str) -> list[str]:
    parts = _top_level_parts(gold)
    if len(parts) > 1:  # a list of values: shift every value, or drop one
        return [", ".join(f"({p})+1" for p in parts), parts[0], ", ".join(parts[1:])]
    return [f"({gold})+1", f"2 \\cdot ({gold})"]


@pytest.mark.parametrize("row", _problems("hmmt_feb25"))
def test_hmmt_reference_answers(row: dict) -> None:
    gold = row["answer"]
    assert parse_answer(gold).ok, gold
    modes = {False, row["metadata"]["answer_type"] == "integer"}
    for integer in modes:
        cache: dict = {}
        for form in (gold, f"${gold}$", extract_answer(f"We get $\\boxed{{{gold}}}$.").answer):
            grade = grade_answer(form, gold, integer=integer, parsed_cache=cache)
            assert (grade.verdict, grade.correct) == ("correct", True), (form, grade)
        # "$gold$" is not string-identical, so this one really went through math-verify
        assert grade_answer(f"${gold}$", gold, integer=integer).detail in (
            "math-verify", "integer comparison")
        for miss in _near_misses(gold):
            grade = grade_answer(miss, gold, integer=integer, parsed_cache=cache)
            assert (grade.verdict, grade.correct) == ("wrong", False), (miss, grade)


# Hand-written surface forms for HMMT Feb 2025 answers: (id, gold, answer, correct?).
# Gold strings are inline so these run without data; test_hmmt_golds_match_file pins them.
HMMT_FORMS = [
    ("hmmt_feb25-03", r"\frac{1}{576}", "1/576", True),
    ("hmmt_feb25-03", r"\frac{1}{576}", r"576^{-1}", True),
    ("hmmt_feb25-03", r"\frac{1}{576}", r"\frac{1}{575}", False),
    ("hmmt_feb25-04", "-984", "\u2212984", True),
    ("hmmt_feb25-04", "-984", "984", False),
    ("hmmt_feb25-07", r"\frac{9 \sqrt{23}}{23}", r"\frac{9\sqrt{23}}{23}", True),
    ("hmmt_feb25-07", r"\frac{9 \sqrt{23}}{23}", r"9\sqrt{23}/23", True),
    ("hmmt_feb25-07", r"\frac{9 \sqrt{23}}{23}", r"\dfrac{9}{\sqrt{23}}", True),
    ("hmmt_feb25-07", r"\frac{9 \sqrt{23}}{23}", r"\frac{9}{23}\sqrt{23}", True),
    ("hmmt_feb25-07", r"\frac{9 \sqrt{23}}{23}", r"-\frac{9\sqrt{23}}{23}", False),
    ("hmmt_feb25-08", r"1-\frac{2}{\pi}", r"\frac{\pi-2}{\pi}", True),
    ("hmmt_feb25-08", r"1-\frac{2}{\pi}", r"(\pi - 2)/\pi", True),
    ("hmmt_feb25-08", r"1-\frac{2}{\pi}", r"1+\frac{2}{\pi}", False),
    ("hmmt_feb25-10", r"\frac{-1+\sqrt{17}}{2}, \frac{-1-\sqrt{17}}{2}",
     r"\frac{-1-\sqrt{17}}{2}, \frac{-1+\sqrt{17}}{2}", True),  # order does not matter
    ("hmmt_feb25-10", r"\frac{-1+\sqrt{17}}{2}, \frac{-1-\sqrt{17}}{2}",
     r"\frac{-1\pm\sqrt{17}}{2}", True),  # needs the module's nested-\pm expansion
    ("hmmt_feb25-10", r"\frac{-1+\sqrt{17}}{2}, \frac{-1-\sqrt{17}}{2}",
     r"\left\{\frac{-1+\sqrt{17}}{2}, \frac{-1-\sqrt{17}}{2}\right\}", True),
    ("hmmt_feb25-10", r"\frac{-1+\sqrt{17}}{2}, \frac{-1-\sqrt{17}}{2}",
     r"\frac{-1+\sqrt{17}}{2} \text{ and } \frac{-1-\sqrt{17}}{2}", True),
    ("hmmt_feb25-10", r"\frac{-1+\sqrt{17}}{2}, \frac{-1-\sqrt{17}}{2}",
     r"-\frac{1}{2}+\frac{\sqrt{17}}{2}, -\frac{1}{2}-\frac{\sqrt{17}}{2}", True),
    ("hmmt_feb25-10", r"\frac{-1+\sqrt{17}}{2}, \frac{-1-\sqrt{17}}{2}",
     r"\frac{1\pm\sqrt{17}}{2}", False),
    ("hmmt_feb25-10", r"\frac{-1+\sqrt{17}}{2}, \frac{-1-\sqrt{17}}{2}",
     r"\frac{-1+\sqrt{17}}{2}", False),  # only one of the two values
    ("hmmt_feb25-17", r"2^{25} \cdot 26!", r"26! \cdot 2^{25}", True),
    ("hmmt_feb25-17", r"2^{25} \cdot 26!", r"2^{25}\times 26!", True),
    ("hmmt_feb25-17", r"2^{25} \cdot 26!", r"33554432 \cdot 26!", True),
    ("hmmt_feb25-17", r"2^{25} \cdot 26!", r"2^{24} \cdot 26!", False),
    ("hmmt_feb25-17", r"2^{25} \cdot 26!", r"2^{25} \cdot 25!", False),
    ("hmmt_feb25-18", r"\frac{2025}{101}", r"\frac{4050}{202}", True),
    ("hmmt_feb25-23", r"8\sqrt{10}", r"\sqrt{640}", True),
    ("hmmt_feb25-23", r"8\sqrt{10}", r"8\sqrt{11}", False),
    ("hmmt_feb25-25", r"\sqrt{23}-2 \sqrt{3}", r"\sqrt{23}-\sqrt{12}", True),
    ("hmmt_feb25-25", r"\sqrt{23}-2 \sqrt{3}", r"-2\sqrt{3}+\sqrt{23}", True),
    ("hmmt_feb25-25", r"\sqrt{23}-2 \sqrt{3}", r"\sqrt{23}+2\sqrt{3}", False),
    ("hmmt_feb25-26", r"9\sqrt{15}", r"\sqrt{1215}", True),
    ("hmmt_feb25-29", r"14+4\sqrt{37}", r"2(7+2\sqrt{37})", True),
    ("hmmt_feb25-29", r"14+4\sqrt{37}", r"14-4\sqrt{37}", False),
    ("hmmt_feb25-30", r"\sqrt{\frac{95}{24}}", r"\frac{\sqrt{570}}{12}", True),
    ("hmmt_feb25-30", r"\sqrt{\frac{95}{24}}", r"\sqrt{95/24}", True),
    ("hmmt_feb25-30", r"\sqrt{\frac{95}{24}}", r"\frac{95}{24}", False),
]


@pytest.mark.parametrize("gold,answer,correct", [f[1:] for f in HMMT_FORMS],
                         ids=[f"{f[0]}:{f[2]}" for f in HMMT_FORMS])
def test_hmmt_surface_forms(gold: str, answer: str, correct: bool) -> None:
    grade = grade_answer(answer, gold)
    assert grade.correct is correct, grade
    assert grade.verdict == ("correct" if correct else "wrong")


def test_hmmt_golds_match_file() -> None:
    if not DATA_DIR:
        pytest.skip("HARNESS_DATA_DIR is not set")
    path = Path(DATA_DIR) / "hmmt_feb25" / "problems.jsonl"
    golds = {r["id"]: r["answer"] for r in map(json.loads, path.read_text().splitlines())}
    for pid, gold, _, _ in HMMT_FORMS:
        assert golds[pid] == gold, pid


# --------------------------------------------------------------------------- equivalence

def test_cluster_answers_mixed_forms() -> None:
    answers = ["1/2", "0.5", "\\frac{1}{2}", "2", None, "\\frac{4}{2}"]
    assert cluster_answers(answers) == [0, 0, 0, 1, None, 1]


def test_cluster_answers_integer_mode() -> None:
    assert cluster_answers(["025", "25", "26", None, "025"], integer=True) == [0, 0, 1, None, 0]
    assert cluster_answers(["26", "025", "25"], integer=True) == [0, 1, 1]


def test_cluster_answers_duplicates_and_unparseable() -> None:
    weird = r"\frac{"  # math-verify extracts nothing from this
    assert not parse_answer(weird).ok
    assert cluster_answers([weird, "7", weird, "}}}", "7"]) == [0, 1, 0, 2, 1]
    assert cluster_answers([]) == []
    assert cluster_answers([None, None]) == [None, None]


def test_equivalent_is_symmetrised() -> None:
    # math-verify compares a relation with an interval only when the *prediction* is the set,
    # so one direction says False; equivalent() must merge these in either argument order.
    a, b = math_verify.parse(r"$x<3$"), math_verify.parse(r"$(-\infty,3)$")
    assert math_verify.verify(a, b) != math_verify.verify(b, a)
    pairs = [("x<3", r"(-\infty,3)"), (r"(-\infty,3)", "x<3"), ("(1,2)", "1<x<2"),
             ("1<x<2", "(1,2)"), ("x=3", "3"), ("3", "x=3"), ("2, -2", r"\pm 2")]
    for a_raw, b_raw in pairs:
        assert equivalent(parse_answer(a_raw), parse_answer(b_raw)), (a_raw, b_raw)
    assert not equivalent(parse_answer("x=3"), parse_answer("4"))
    assert not equivalent(parse_answer("x<3"), parse_answer(r"(-\infty,4)"))
    assert cluster_answers(["(1,2)", "1<x<2", "x<3", r"(-\infty,3)"]) == [0, 0, 1, 1]


def test_integer_answers_compare_without_math_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> bool:
        raise AssertionError("math-verify must not be called for two integers")
    monkeypatch.setattr(math_verify, "verify", boom)
    assert equivalent(parse_answer("025", integer=True), parse_answer("25", integer=True))
    assert grade_answer("$025$", "25", integer=True).verdict == "correct"
    assert grade_answer("026", "25", integer=True).verdict == "wrong"


# --------------------------------------------------------------------------- grading outcomes

def test_grade_no_answer() -> None:
    assert grade_answer(None, "5") == math_answers.AnswerGrade("no_answer", False,
                                                               "no answer extracted")


def test_grade_unparseable_answer_is_wrong_not_error() -> None:
    grade = grade_answer(r"\frac{", "5")
    assert (grade.verdict, grade.correct) == ("wrong", False)


def test_grade_error_when_math_verify_raises() -> None:
    # A reference that evaluates to zoo makes math-verify's comparison raise ValueError
    # ("Can't evaluate nan or zoo"); by default verify() would have swallowed it as False.
    grade = grade_answer("5", r"\frac{1}{0}")
    assert (grade.verdict, grade.correct) == ("error", None)
    assert "zoo" in grade.detail
    # ...whereas math-verify's default mode would have reported a plain "not equal"
    gold, pred = math_verify.parse(r"$\frac{1}{0}$"), math_verify.parse("$5$")
    assert math_verify.verify(gold, pred) is False


def test_grade_error_on_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    # Comparing against 9999999! genuinely times out; shorten the limit to keep the test fast.
    monkeypatch.setattr(math_answers, "VERIFY_TIMEOUT_S", 1)
    grade = grade_answer("9999999!", "99!")
    assert (grade.verdict, grade.correct) == ("error", None)
    assert "Timeout" in grade.detail
    # for clustering a failure only means "not merged"
    assert cluster_answers(["9999999!", "99!"]) == [0, 1]


def test_grade_error_when_verify_is_patched_to_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> bool:
        raise RuntimeError("sympy exploded")
    monkeypatch.setattr(math_verify, "verify", boom)
    grade = grade_answer("0.5", r"\frac{1}{2}")
    assert grade == math_answers.AnswerGrade("error", None,
                                             "math-verify failed: RuntimeError: sympy exploded")
    assert not equivalent(parse_answer("0.5"), parse_answer(r"\frac{1}{2}"))


def test_grade_error_when_parse_is_patched_to_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> list:
        raise math_verify.errors.TimeoutException("parse timed out")
    monkeypatch.setattr(math_verify, "parse", boom)
    parsed = parse_answer("0.5")
    assert (parsed.ok, parsed.grader_failure) == (False, True)
    assert re.search("TimeoutException", parsed.error or "")
    assert grade_answer("0.5", "5", integer=True).verdict == "error"  # pred parse failed
    assert grade_answer("5", "0.5").verdict == "error"  # reference parse failed


def test_parsed_cache_parses_each_string_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_parse = math_verify.parse

    def counting(text: str, **kwargs: object) -> list:
        calls.append(text)
        return real_parse(text, **kwargs)
    monkeypatch.setattr(math_verify, "parse", counting)
    cache: dict = {}
    assert grade_answer("0.5", r"\frac{1}{2}", parsed_cache=cache).verdict == "correct"
    first = len(calls)
    assert first == 2 and len(cache) == 2
    assert grade_answer("0.5", r"\frac{1}{2}", parsed_cache=cache).verdict == "correct"
    assert grade_answer("1/3", r"\frac{1}{2}", parsed_cache=cache).verdict == "wrong"
    assert len(calls) == first + 1
