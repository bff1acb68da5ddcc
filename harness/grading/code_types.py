"""Typed code tests (what a code task puts in Reference.tests) and the code grader's verdicts.

Both are frozen dataclasses with a JSON form: `to_json()` gives exactly the dicts these values
were before they were typed (so grade-cache hashes of references and cached outcomes stay
valid), and `from_json()` / `code_tests()` read them back, checking every field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping, Union

TestType = Literal["stdin", "functional"]
Completion = Literal["body", "full"]
Verdict = Literal["AC", "WA", "TLE", "RE", "CE", "MLE", "error"]
VERDICTS_CODE: tuple[str, ...] = ("AC", "WA", "TLE", "RE", "CE", "MLE", "error")


class CodeTestsError(ValueError):
    """A Reference.tests value that is not a valid set of code tests."""


def _field(data: Mapping[str, Any], name: str, kinds: tuple[type, ...], where: str, *,
           required: bool = True, default: Any = None) -> Any:
    if name not in data or (data[name] is None and not required):
        if required:
            raise CodeTestsError(f"{where}: missing field {name!r}")
        return default
    value = data[name]
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise CodeTestsError(f"{where}: field {name!r} must be {names}, got {type(value).__name__}")
    return value


def _strings(data: Mapping[str, Any], name: str, where: str) -> tuple[str, ...]:
    values = _field(data, name, (list, tuple), where, required=False, default=())
    if not all(isinstance(v, str) for v in values):
        raise CodeTestsError(f"{where}: field {name!r} must be a list of strings")
    return tuple(values)


def _choice(value: Any, allowed: tuple[str, ...], name: str, where: str) -> Any:
    if value not in allowed:
        raise CodeTestsError(f"{where}: field {name!r} must be one of {', '.join(allowed)}, got {value!r}")
    return value


@dataclass(frozen=True)
class CodeTest:
    """One graded test case of a LiveCodeBench-style problem."""

    input: str
    """The program's input: stdin text (stdin problems), or the call's arguments as one JSON
    value per line (functional problems, LCB's encoding)."""
    expected: str
    """What the program must produce: the expected stdout (compared by LCB's line and token
    rules) or the JSON text of the expected return value (functional problems)."""

    def to_json(self) -> dict[str, str]:
        return {"input": self.input, "output": self.expected}  # "output": LCB's own field name

    @classmethod
    def from_json(cls, data: Any, where: str = "test") -> "CodeTest":
        if isinstance(data, CodeTest):
            return data
        if not isinstance(data, Mapping):
            raise CodeTestsError(f"{where}: a test must be an object with input and output")
        return cls(input=_field(data, "input", (str,), where), expected=_field(data, "output", (str,), where))


@dataclass(frozen=True)
class LcbTests:
    """Reference.tests of a LiveCodeBench problem: graded tests and behaviour inputs."""

    testtype: TestType
    """'stdin' (a program reading stdin) or 'functional' (a LeetCode-style method call)."""
    func_name: str | None
    """The method to call on `Solution()` for functional problems; None for stdin problems."""
    tests: tuple[CodeTest, ...]
    """The graded tests in order (public, then private); the first failure decides the verdict."""
    behaviour_inputs: tuple[str, ...] = ()
    """Inputs (never outputs) run only to cluster programs by behaviour, in `CodeTest.input` form."""
    kind: Literal["lcb"] = "lcb"
    """The tag of this shape in JSON."""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "testtype": self.testtype, "func_name": self.func_name,
                "tests": [t.to_json() for t in self.tests], "behaviour_inputs": list(self.behaviour_inputs)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "tests") -> "LcbTests":
        testtype = _choice(data.get("testtype"), ("stdin", "functional"), "testtype", where)
        func_name = _field(data, "func_name", (str,), where, required=False)
        raw = _field(data, "tests", (list, tuple), where)
        tests = tuple(CodeTest.from_json(t, f"{where}: test {i}") for i, t in enumerate(raw))
        return cls(testtype=testtype, func_name=func_name, tests=tests,
                   behaviour_inputs=_strings(data, "behaviour_inputs", where))


@dataclass(frozen=True)
class HumanEvalTests:
    """Reference.tests of a HumanEval problem: the official check plus behaviour calls."""

    prompt: str
    """The function head and docstring (the problem statement)."""
    test: str
    """The official test code defining `check(candidate)`."""
    entry_point: str
    """The name of the function under test."""
    completion: Completion = "body"
    """'body': a candidate continues the prompt (program = prompt + candidate); 'full': the
    candidate answers with the whole function, extracted from its text."""
    behaviour_calls: tuple[str, ...] = ()
    """Argument sources of literal calls (from `check` and the >>> examples) used to cluster
    programs by behaviour."""
    kind: Literal["humaneval"] = "humaneval"
    """The tag of this shape in JSON."""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "prompt": self.prompt, "test": self.test, "entry_point": self.entry_point,
                "completion": self.completion, "behaviour_calls": list(self.behaviour_calls)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "tests") -> "HumanEvalTests":
        completion = _choice(data.get("completion") or "body", ("body", "full"), "completion", where)
        return cls(prompt=_field(data, "prompt", (str,), where), test=_field(data, "test", (str,), where),
                   entry_point=_field(data, "entry_point", (str,), where), completion=completion,
                   behaviour_calls=_strings(data, "behaviour_calls", where))


CodeTests = Union[LcbTests, HumanEvalTests]


def code_tests(value: Any, where: str = "tests") -> CodeTests:
    """Typed tests from a Reference.tests value: already typed, or its JSON form (a dict)."""
    if isinstance(value, (LcbTests, HumanEvalTests)):
        return value
    if not isinstance(value, Mapping):
        raise CodeTestsError(f"{where}: reference has no code tests")
    kind = value.get("kind")
    if kind == "lcb":
        return LcbTests.from_json(value, where)
    if kind == "humaneval":
        return HumanEvalTests.from_json(value, where)
    raise CodeTestsError(f"{where}: reference has no code tests (kind {kind!r}; expected lcb or humaneval)")


@dataclass(frozen=True)
class CodeVerdict:
    """The grader's outcome for one program: its verdict over all tests and its behaviour."""

    verdict: Verdict
    """AC (every test passed), WA (wrong output), TLE (time limit), RE (runtime error, or no
    value returned), CE (no code extracted or it does not compile), MLE (memory limit), or
    'error' (the grader failed: never counted as a wrong answer)."""
    detail: str = ""
    """A short human reason, e.g. 'test 2: wrong output' (at most 500 characters)."""
    signature: tuple[str, ...] | None = None
    """The program's outcome on each behaviour input ('ok:<digest>' or '!<error kind>'), or
    ('code:',) when clustering falls back to identical programs; None: no behaviour."""

    def __post_init__(self) -> None:
        _choice(self.verdict, VERDICTS_CODE, "verdict", "verdict")

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "detail": self.detail,
                "signature": None if self.signature is None else list(self.signature)}

    @classmethod
    def from_json(cls, data: Any, where: str = "outcome") -> "CodeVerdict":
        if not isinstance(data, Mapping):
            raise CodeTestsError(f"{where}: an outcome must be an object")
        verdict = _choice(data.get("verdict"), VERDICTS_CODE, "verdict", where)
        signature = data.get("signature")
        if signature is not None and not (isinstance(signature, (list, tuple))
                                          and all(isinstance(s, str) for s in signature)):
            raise CodeTestsError(f"{where}: field 'signature' must be a list of strings or null")
        return cls(verdict=verdict, detail=_field(data, "detail", (str,), where, required=False, default=""),
                   signature=None if signature is None else tuple(signature))
