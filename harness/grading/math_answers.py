"""Final-answer extraction and math-verify equivalence for math benchmarks.

Three jobs: pull the final answer string out of a model response (``extract_answer``), grade it
against a reference (``grade_answer``) and cluster a pool's answers for majority voting
(``cluster_answers``). math-verify does the symbolic work; this module decides what string it
sees and, crucially, keeps a grader failure (math-verify raising or timing out) apart from a
genuine "not equal", so a failure is reported as ``verdict="error"`` and never scored wrong.

math-verify's timeouts use ``signal.alarm``: call these functions from a process's main thread
(the main process or worker processes), never from threads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import math_verify
from math_verify.errors import TimeoutException
from sympy import Basic, Integer, MatrixBase

GRADER_NAME = "math-verify"
GRADER_VERSION = "mv1"  # bump when extraction/equivalence rules change

# Seconds per math-verify call (signal.alarm takes whole seconds). math-verify's own default.
PARSE_TIMEOUT_S = 5
VERIFY_TIMEOUT_S = 5

_THINK_START = "<think>"
_THINK_END = "</think>"
# A doubled backslash before "boxed" (raw text \\boxed{..}) means the box sits in a JSON string.
_BOXED_RE = re.compile(r"(?P<json>\\)?\\(?:boxed|fbox)\s*\{")
# A JSON "answer" field: a string value (escapes kept, decoded later) or a bare number. The string
# alternative cannot backtrack catastrophically: [^"\\] and \\. never match the same text.
_JSON_ANSWER_RE = re.compile(
    r'"answer"\s*:\s*(?:"(?P<s>(?:[^"\\]|\\.)*)"|(?P<n>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?))',
    re.DOTALL)
# JSON escapes. \b \f \n \r \t directly followed by a letter are left alone: models often write
# raw single-backslash LaTeX inside their JSON strings, and "\frac"/"\neq"/"\times" must survive.
_JSON_ESCAPE_RE = re.compile(
    r'\\(?:(?P<u>u[0-9a-fA-F]{4})|(?P<lit>["\\/])|(?P<ctl>[bfnrt])(?![a-zA-Z])|(?P<other>.))',
    re.DOTALL)
_JSON_CONTROL = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_PHRASE_RE = re.compile(
    r"(?:final\s+answer\s+is|the\s+answer\s+is|answer\s*:)[ \t:]*(?P<x>[^\n]*)", re.IGNORECASE)
_DELIMITERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_WRAPPER_RE = re.compile(r"\\(?:text|textbf|mathrm|mathbf|boxed)\s*\{(?P<x>.*)\}", re.DOTALL)
_DEGREES_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ|°")
_INT_RE = re.compile(r"[+-]?\d+")
_THOUSANDS_RE = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+")
_PM_RE = re.compile(r"\\pm(?![a-zA-Z])")


@dataclass(frozen=True)
class Extraction:
    answer: str | None  # the extracted final-answer string (LaTeX-ish), None if nothing found
    method: str  # "boxed" | "json" | "answer-phrase" | "none"


def unfinished_thinking(text: str) -> bool:
    """A response that opened ``<think>`` and never closed it: the generator hit its token limit
    while still reasoning, so it gave no final solution (NeMo-Skills scores it as no answer)."""
    return _THINK_START in text and _THINK_END not in text


def final_segment(text: str) -> str:
    """The text after the last ``</think>``: reasoning models may box drafts while thinking.

    Unfinished thinking has no final segment (""), so a boxed draft inside it is never graded,
    clustered, shown to a judge or used to build a selection task."""
    if unfinished_thinking(text):
        return ""
    cut = text.rfind(_THINK_END)
    return text if cut < 0 else text[cut + len(_THINK_END):]


def _strip_delimiters(s: str) -> str:
    s = s.strip()
    changed = True
    while changed:
        changed = False
        for left, right in _DELIMITERS:
            inner = s[len(left):-len(right)] if len(s) >= len(left) + len(right) else None
            # Only strip a pair that encloses everything: "$a$ and $b$" must stay intact.
            if inner is not None and s.startswith(left) and s.endswith(right) and left not in inner:
                s, changed = inner.strip(), True
                break
    return s


def _balanced(text: str, start: int) -> str | None:
    """Content from ``start`` up to the brace closing an already-open one; None if unterminated."""
    depth, i = 1, start
    while i < len(text):
        c = text[i]
        if c == "\\":  # \{ and \} are literal braces in LaTeX, not grouping
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start:i]
        i += 1
    return None


def _last_boxed(text: str) -> str | None:
    found = None
    for m in _BOXED_RE.finditer(text):
        content = _balanced(text, m.end())
        if content is not None and m.group("json"):
            content = _decode_json_string(content)  # JSON-escaped: \\frac -> \frac
        if content is not None and _strip_delimiters(content):
            found = content
    return found


def last_boxed_exact(text: str) -> str | None:
    """The content of the very last ``\\boxed`` exactly as written, or None when that last one is
    not followed by a balanced ``{...}``: the answer string NeMo-Skills' majority vote counts
    (no normalisation, no fallback to an earlier box or to an answer phrase)."""
    start = text.rfind("\\boxed")
    if start < 0:
        return None
    brace = start + len("\\boxed")
    if not text.startswith("{", brace):
        return None
    return _balanced(text, brace + 1)


def _decode_json_string(s: str) -> str:
    def replace(m: re.Match[str]) -> str:
        if m.group("u"):
            return chr(int(m.group("u")[1:], 16))
        if m.group("lit"):
            return m.group("lit")
        if m.group("ctl"):
            return _JSON_CONTROL[m.group("ctl")]
        return m.group(0)  # not a JSON escape: raw LaTeX such as \sqrt, keep as written
    return _JSON_ESCAPE_RE.sub(replace, s)


def _json_answer(text: str) -> str | None:
    matches = list(_JSON_ANSWER_RE.finditer(text))
    if not matches:
        return None
    m = matches[-1]
    if m.group("n") is not None:
        return m.group("n")
    value = _decode_json_string(m.group("s"))
    boxed = _last_boxed(value)
    return boxed if boxed is not None else value


def _phrase_answer(text: str) -> str | None:
    for m in reversed(list(_PHRASE_RE.finditer(text))):
        x = m.group("x").strip().strip("*").strip()
        x = _strip_delimiters(x.rstrip(".").strip()).rstrip(".").strip()
        if x:
            return x
    return None


def extract_answer(text: str) -> Extraction:
    segment = final_segment(text)
    for method, rule in (("boxed", _last_boxed), ("json", _json_answer),
                         ("answer-phrase", _phrase_answer)):
        found = rule(segment)
        if found is not None and (answer := _strip_delimiters(found)):
            return Extraction(answer, method)
    return Extraction(None, "none")


def normalize_integer(answer: str) -> str | None:
    """The canonical decimal form of an AIME-style integer answer, or None if it is not one."""
    s = answer
    for _ in range(3):  # a few rounds peel nested layers such as "$\text{25}$."
        s = _strip_delimiters(s.strip().rstrip(".").strip())
        m = _WRAPPER_RE.fullmatch(s)
        if m:
            s = m.group("x")
    s = _DEGREES_RE.sub("", s).replace("{,}", ",").replace("\\,", "").replace("\\!", "")
    s = s.replace("\u2212", "-").strip()
    if _THOUSANDS_RE.fullmatch(s):
        s = s.replace(",", "")
    return canonical_integer(s) if _INT_RE.fullmatch(s) else None


def canonical_integer(digits: str) -> str:
    """The canonical decimal form of an optionally signed digit string ("-007" -> "-7", "-0" ->
    "0"), without int(): Python refuses to convert strings of more than 4,300 digits, and a
    model can write a million."""
    body = digits.lstrip("+-").lstrip("0") or "0"
    return "-" + body if digits.startswith("-") and body != "0" else body


@dataclass(frozen=True, eq=False)  # eq=False: comparing sympy payloads is costly and meaningless
class ParsedAnswer:
    """One answer string in parsed form. ``ok`` is False when math-verify found no expression
    (``error`` says why); ``grader_failure`` is True when that was math-verify raising or timing
    out rather than the string simply containing no mathematics."""
    raw: str
    integer: int | None = None  # set when integer-mode normalisation succeeded
    exprs: tuple[Any, ...] = ()  # math_verify.parse output (sympy objects and fallback strings)
    error: str | None = None
    grader_failure: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]


def parse_answer(answer: str, *, integer: bool = False) -> ParsedAnswer:
    if integer and (n := normalize_integer(answer)) is not None:
        return ParsedAnswer(answer, integer=int(n), exprs=(Integer(int(n)),))
    text = answer.strip()
    if not text:
        return ParsedAnswer(answer, error="empty answer")
    # \boxed{..} first: it is math-verify's highest-priority target, tolerates "$" inside the
    # answer and turns on its boxed-answer normalisation; "$..$" and the bare string are fallbacks
    # for strings the boxed form cannot hold (e.g. unbalanced braces). Last resort: math-verify
    # reads a top-level "a \pm b" as a set but gives up on a nested one
    # ("\frac{-1\pm\sqrt{17}}{2}"), so spell a single nested \pm out as its two values.
    candidates = ["\\boxed{" + text + "}", "$" + text + "$", text]
    if len(_PM_RE.findall(text)) == 1 and "," not in text:
        plus, minus = _PM_RE.sub("+", text), _PM_RE.sub("-", text)
        candidates.append("\\boxed{" + f"{plus}, {minus}" + "}")
    for wrapped in candidates:
        try:
            result = math_verify.parse(wrapped, parsing_timeout=PARSE_TIMEOUT_S,
                                       raise_on_error=True)
        except (Exception, TimeoutException) as exc:  # TimeoutException is a BaseException
            return ParsedAnswer(answer, error=_describe(exc), grader_failure=True)
        if any(isinstance(x, (Basic, MatrixBase)) for x in result):
            return ParsedAnswer(answer, exprs=tuple(result))
    return ParsedAnswer(answer, error="math-verify extracted no expression")


def _verify(gold: ParsedAnswer, pred: ParsedAnswer) -> bool:
    """math_verify.verify with raise_on_error=True: by default it swallows exceptions and
    timeouts and returns False, which would score a grader failure as a wrong answer."""
    return bool(math_verify.verify(list(gold.exprs), list(pred.exprs),
                                   timeout_seconds=VERIFY_TIMEOUT_S, raise_on_error=True))


def equivalent(a: ParsedAnswer, b: ParsedAnswer) -> bool:
    if a.integer is not None and b.integer is not None:
        return a.integer == b.integer
    if a.raw.strip() == b.raw.strip():
        return True
    if not (a.ok and b.ok):
        return False  # unparseable answers only match an identical raw string
    # verify is asymmetric (gold-side rules: e.g. "x<3" vs "(-\infty,3)" is equal only when the
    # interval is the prediction); with no gold here, either direction saying equal suffices.
    # A failing direction just means "not shown equal": for clustering that is the safe answer.
    for gold, pred in ((a, b), (b, a)):
        try:
            if _verify(gold, pred):
                return True
        except (Exception, TimeoutException):
            pass
    return False


@dataclass(frozen=True)
class AnswerGrade:
    verdict: str  # "correct" | "wrong" | "no_answer" | "error"
    correct: bool | None  # None when verdict == "error" (a grader failure is NEVER scored wrong)
    detail: str  # short human-readable reason, e.g. the exception text for "error"


def _parsed(answer: str, integer: bool, cache: dict | None) -> ParsedAnswer:
    if cache is None:
        return parse_answer(answer, integer=integer)
    key = (answer, integer)  # the parse depends on the mode, so one cache may serve both
    if key not in cache:
        cache[key] = parse_answer(answer, integer=integer)
    return cache[key]


def grade_answer(answer: str | None, gold: str, *, integer: bool = False,
                 parsed_cache: dict | None = None) -> AnswerGrade:
    if answer is None or not answer.strip():
        return AnswerGrade("no_answer", False, "no answer extracted")
    pred_p = _parsed(answer, integer, parsed_cache)
    gold_p = _parsed(gold, integer, parsed_cache)
    if pred_p.integer is not None and gold_p.integer is not None:
        same = pred_p.integer == gold_p.integer
        return AnswerGrade("correct" if same else "wrong", same, "integer comparison")
    if answer.strip() == gold.strip():
        return AnswerGrade("correct", True, "identical to reference")
    if not gold_p.ok:
        return AnswerGrade("error", None, f"reference unparseable: {gold_p.error}")
    if not pred_p.ok:
        if pred_p.grader_failure:
            return AnswerGrade("error", None, f"answer parse failed: {pred_p.error}")
        return AnswerGrade("wrong", False, f"unparseable answer: {pred_p.error}")
    try:
        same = _verify(gold_p, pred_p)  # gold first: math-verify's gold-side rules expect it
    except (Exception, TimeoutException) as exc:
        return AnswerGrade("error", None, f"math-verify failed: {_describe(exc)}")
    return AnswerGrade("correct" if same else "wrong", same, "math-verify")


def cluster_answers(answers: list[str | None], *, integer: bool = False, skip: frozenset[str] = frozenset(),
                    on_step: Callable[[str], None] | None = None) -> list[int | None]:
    """Equivalence classes of answers. `skip`: answers not to compare (their comparison was killed,
    harness.grading.killable), each its own class. `on_step(answer)` is called before each answer's
    comparisons, so a supervisor knows which answer a stuck worker was on."""
    labels: dict[str, int] = {}  # distinct raw string -> cluster label
    representatives: list[ParsedAnswer] = []  # index = label; the cluster's first answer
    for answer in answers:
        if answer is None or answer in labels:
            continue
        if answer in skip:
            labels[answer] = len(representatives)
            representatives.append(ParsedAnswer(answer, error="comparison killed"))
            continue
        if on_step is not None:
            on_step(answer)
        parsed = parse_answer(answer, integer=integer)
        # Greedy, first match wins: equivalence via verify is not guaranteed transitive, so
        # comparing against one fixed representative keeps the result order-defined.
        label = next((i for i, rep in enumerate(representatives) if equivalent(rep, parsed)),
                     None)
        if label is None:
            label = len(representatives)
            representatives.append(parsed)
        labels[answer] = label
    return [None if a is None else labels[a] for a in answers]
