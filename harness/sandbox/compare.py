"""Output comparison (LiveCodeBench's rule, or a tolerant one) and behaviour digests.

Two modes (`COMPARE_MODES`); "lcb" is the default and is LiveCodeBench's official grader
(lcb_runner/evaluation/testing_util.py, `grade_stdio` and `grade_call_based`):

lcb, stdout: both texts are stripped and split on "\n", each line stripped
  (`get_stripped_lines`); the line counts must agree; a line matches when it equals the
  expected line, or when both lines split into whitespace-separated tokens that all parse as
  `decimal.Decimal` and the two lists of Decimals are equal (`convert_line_to_decimals`): exact
  decimal equality, no tolerance. So "1.0" == "1" and "0.50" == "0.5", but
  "0.3333333333333333" != "0.333333333333333" and "a  b" != "a b" (a line with a token that is
  not a number must match as a string).
lcb, json (LeetCode-style functional): a returned tuple becomes a list (only at the top, as in
  LCB) and the value must == the expected JSON value, Python's == (so 1 == true and 2.0 == 2;
  a nested tuple never equals a list; floats compare exactly).

tolerant: the same line and token rules, but tokens are compared one by one (so the spacing of
  a line does not matter) and non-integer numbers may differ by the tolerance (absolute or
  relative, 1e-6 by default); integers always compare exactly. Functional values: tuples are
  lists at every depth and floats compare with the same tolerance. For problems whose
  statement allows an error; not LiveCodeBench's numbers.

Behaviour digests are up to what the comparison ignores: `stdout_digest` holds one digest per
mode (`digest_for` picks one), `value_digest(value, mode)`.
"""

from __future__ import annotations

import hashlib
import json
import math
from decimal import Decimal, InvalidOperation
from typing import Any

REL_TOL = 1e-6
ABS_TOL = 1e-6
COMPARE_MODES = ("lcb", "tolerant")
DEFAULT_MODE = "lcb"


def check_mode(mode: str) -> str:
    if mode not in COMPARE_MODES:
        raise ValueError(f"unknown comparison {mode!r}; known: {', '.join(COMPARE_MODES)}")
    return mode


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n")]


def _decimals(line: str) -> list[Decimal] | None:
    """The line's tokens as Decimals, or None when one is not a number (LCB: any exception)."""
    try:
        return [Decimal(token) for token in line.split()]
    except (ArithmeticError, ValueError):
        return None


def lcb_lines_match(got: str, expected: str) -> bool:
    """One stripped line against another, as LiveCodeBench compares them."""
    if got == expected:
        return True
    got_values, exp_values = _decimals(got), _decimals(expected)
    if got_values is None or exp_values is None:
        return False
    try:
        return got_values == exp_values
    except ArithmeticError:  # a signalling NaN: LCB's comparison raises, a failed test
        return False


def _is_integer_token(token: str) -> bool:
    return not any(ch in token for ch in ".eEnN")  # no fraction, exponent, nan or inf


def tokens_match(a: str, b: str, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL) -> bool:
    """Tolerant mode: two tokens are equal strings, equal numbers, or non-integers within tolerance."""
    if a == b:
        return True
    try:
        da, db = Decimal(a), Decimal(b)
    except (InvalidOperation, ValueError):
        return False
    if da.is_nan() or db.is_nan():
        return False
    if da == db:
        return True
    if _is_integer_token(a) and _is_integer_token(b) or not (da.is_finite() and db.is_finite()):
        return False
    return abs(da - db) <= max(Decimal(abs_tol), Decimal(rel_tol) * abs(db))


def outputs_match(got: str, expected: str, mode: str = DEFAULT_MODE, rel_tol: float = REL_TOL,
                  abs_tol: float = ABS_TOL) -> bool:
    """A program's stdout against the expected output (see the module docstring for the modes)."""
    got_lines, exp_lines = _lines(got), _lines(expected)
    if len(got_lines) != len(exp_lines):
        return False
    if check_mode(mode) == "lcb":
        return all(lcb_lines_match(g, e) for g, e in zip(got_lines, exp_lines))
    for g, e in zip(got_lines, exp_lines):
        if g == e:
            continue
        gt, et = g.split(), e.split()
        if len(gt) != len(et) or not all(tokens_match(x, y, rel_tol, abs_tol) for x, y in zip(gt, et)):
            return False
    return True


def values_match(got: Any, expected: Any, mode: str = DEFAULT_MODE, rel_tol: float = REL_TOL,
                 abs_tol: float = ABS_TOL) -> bool:
    """A returned value against the expected JSON value (see the module docstring for the modes)."""
    if check_mode(mode) == "lcb":
        if isinstance(got, tuple):
            got = list(got)
        try:
            return bool(got == expected)
        except Exception:  # noqa: BLE001 - LCB: an exception while comparing fails the test
            return False
    return _tolerant_values_match(got, expected, rel_tol, abs_tol)


def _tolerant_values_match(got: Any, expected: Any, rel_tol: float, abs_tol: float) -> bool:
    if isinstance(got, tuple):
        got = list(got)
    if isinstance(got, float) or isinstance(expected, float):
        if isinstance(got, (int, float)) and isinstance(expected, (int, float)):
            return got == expected or math.isclose(got, expected, rel_tol=rel_tol, abs_tol=abs_tol)
        return False
    if isinstance(got, list) and isinstance(expected, list):
        return len(got) == len(expected) and all(_tolerant_values_match(g, e, rel_tol, abs_tol)
                                                 for g, e in zip(got, expected))
    if isinstance(got, dict) and isinstance(expected, dict):
        return got.keys() == expected.keys() and all(
            _tolerant_values_match(got[k], expected[k], rel_tol, abs_tol) for k in got)
    return got == expected


def _norm_token(token: str) -> str:
    """Tolerant digest: a number exactly (integers) or to 6 significant digits; other tokens as they are."""
    try:
        value = Decimal(token)
    except (ArithmeticError, ValueError):
        return token
    if value.is_nan():
        return "nan"
    if value.is_finite() and not _is_integer_token(token):
        value = Decimal(format(float(value), ".6g"))
    return _exact_decimal(value)


def _exact_decimal(value: Decimal) -> str:
    """A canonical spelling of a Decimal: equal values (1.0, 1, 1E0, -0) spell alike (exact, no rounding)."""
    if value.is_infinite():
        return "-inf" if value.is_signed() else "inf"
    if value == 0:
        return "0"
    sign, digits, exponent = value.as_tuple()
    text = "".join(map(str, digits))
    kept = text.rstrip("0")
    return f"{'-' if sign else ''}{kept}e{int(exponent) + len(text) - len(kept)}"


def _lcb_line_key(line: str) -> str:
    values = _decimals(line)
    if values is None or any(v.is_nan() for v in values):
        return "s:" + line  # matches only as the same string
    return "n:" + " ".join(_exact_decimal(v) for v in values)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]


def stdout_digest(text: str) -> str:
    """Digests of an output up to what each comparison ignores, "<lcb>/<tolerant>": lcb keeps
    every line as LCB matches it (the string, or its exact numbers); tolerant drops the spacing
    and rounds non-integers to 6 significant digits. `digest_for` picks one."""
    lines = _lines(text)
    exact = "\n".join(_lcb_line_key(line) for line in lines)
    tolerant = "\n".join(" ".join(_norm_token(t) for t in line.split()) for line in lines)
    return _hash(exact) + "/" + _hash(tolerant)


def digest_for(digest: str, mode: str = DEFAULT_MODE) -> str:
    """The part of a `stdout_digest` that belongs to one comparison mode."""
    parts = digest.split("/")
    return parts[COMPARE_MODES.index(check_mode(mode))] if len(parts) == len(COMPARE_MODES) else digest


def canonical_value(value: Any, mode: str = DEFAULT_MODE) -> Any:
    """A returned value up to what the comparison ignores (behaviour signatures), as JSON.

    Both modes: bools as ints (True == 1), integral floats as ints (2.0 == 2). lcb: other floats
    exact, a tuple is a list only at the top (a nested tuple never equals a list), dict keys
    keep their type. tolerant: floats rounded to 6 significant digits, tuples are lists."""
    if check_mode(mode) == "lcb":
        return _exact_value(list(value) if isinstance(value, tuple) else value)
    return _tolerant_value(value)


def _exact_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        return value if math.isfinite(value) else ["__float__", repr(value)]
    if isinstance(value, tuple):
        return ["__tuple__", *(_exact_value(v) for v in value)]
    if isinstance(value, list):
        return [_exact_value(v) for v in value]
    if isinstance(value, dict):
        pairs = [[_exact_value(k), _exact_value(v)] for k, v in value.items()]
        return ["__dict__", *sorted(pairs, key=lambda kv: json.dumps(kv, default=repr))]
    return value


def _tolerant_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        rounded = float(format(value, ".6g"))
        return int(rounded) if rounded.is_integer() and abs(rounded) < 1e15 else rounded
    if isinstance(value, (list, tuple)):
        return [_tolerant_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _tolerant_value(v) for k, v in value.items()}
    return value


def value_digest(value: Any, mode: str = DEFAULT_MODE) -> str:
    blob = json.dumps(canonical_value(value, mode), sort_keys=True, separators=(",", ":"), default=repr)
    return _hash(blob)


def judge(expect: tuple | None, status: str, stdout: str, records: list[dict]) -> tuple[bool | None, str]:
    """(passed, reason) for one run; passed is None for runs without an expectation.

    expect: ("stdout", text[, mode]), ("json", text[, mode]) or ("marker",); mode is one of
    COMPARE_MODES, "lcb" when absent."""
    if expect is None:
        return None, ""
    kind = expect[0]
    mode = expect[2] if len(expect) > 2 else DEFAULT_MODE
    if kind == "marker":
        checks = [r for r in records if "check" in r]
        if checks:
            return checks[-1]["check"] == "pass", str(checks[-1].get("error") or "")
        return False, f"no check result ({status})"
    if status != "ok":
        return False, status
    if kind == "stdout":
        return (True, "") if outputs_match(stdout, expect[1], mode) else (False, "wrong output")
    if kind == "json":
        results = [r for r in records if "result" in r or "error" in r]
        if not results:
            return False, "no result (the program exited before returning)"
        last = results[-1]
        if "error" in last:
            return False, f"{last['error']}: {last.get('message', '')}"[:300]
        try:
            expected = json.loads(expect[1])
        except json.JSONDecodeError:
            return False, "expected output is not JSON"
        return (True, "") if values_match(last["result"], expected, mode) else (False, "wrong result")
    raise ValueError(f"unknown expectation {kind!r}")
