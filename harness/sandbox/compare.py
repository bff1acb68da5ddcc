"""Output comparison (LiveCodeBench semantics + a float tolerance) and behaviour digests.

stdout: both texts are stripped, split into lines and each line stripped (LCB's rule); the line
counts must agree; a line matches when equal, or when its whitespace-separated tokens pairwise
match: equal strings, or numbers that are equal (LCB compares tokens as Decimals, so "1.0" ==
"1" and "0.50" == "0.5"). Beyond LCB, non-integer numbers may differ by the tolerance
(absolute or relative, 1e-6 by default); integers always compare exactly.

json (LeetCode-style functional): the returned value (tuples were made lists, as in LCB)
equals the expected JSON value with Python's == (so 1 == true, as in LCB); floats compare with
the same tolerance.
"""

from __future__ import annotations

import hashlib
import json
import math
from decimal import Decimal, InvalidOperation
from typing import Any

REL_TOL = 1e-6
ABS_TOL = 1e-6


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n")]


def _is_integer_token(token: str) -> bool:
    return not any(ch in token for ch in ".eEnN")  # no fraction, exponent, nan or inf


def tokens_match(a: str, b: str, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL) -> bool:
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


def outputs_match(got: str, expected: str, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL) -> bool:
    got_lines, exp_lines = _lines(got), _lines(expected)
    if len(got_lines) != len(exp_lines):
        return False
    for g, e in zip(got_lines, exp_lines):
        if g == e:
            continue
        gt, et = g.split(), e.split()
        if len(gt) != len(et) or not all(tokens_match(x, y, rel_tol, abs_tol) for x, y in zip(gt, et)):
            return False
    return True


def values_match(got: Any, expected: Any, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL) -> bool:
    if isinstance(got, tuple):
        got = list(got)
    if isinstance(got, float) or isinstance(expected, float):
        if isinstance(got, (int, float)) and isinstance(expected, (int, float)):
            return got == expected or math.isclose(got, expected, rel_tol=rel_tol, abs_tol=abs_tol)
        return False
    if isinstance(got, list) and isinstance(expected, list):
        return len(got) == len(expected) and all(values_match(g, e, rel_tol, abs_tol)
                                                 for g, e in zip(got, expected))
    if isinstance(got, dict) and isinstance(expected, dict):
        return got.keys() == expected.keys() and all(values_match(got[k], expected[k], rel_tol, abs_tol)
                                                     for k in got)
    return got == expected


def _norm_token(token: str) -> str:
    if _is_integer_token(token):
        return token
    try:
        value = float(token)
    except ValueError:
        return token
    return format(value, ".6g") if math.isfinite(value) else token


def stdout_digest(text: str) -> str:
    """Digest of an output up to what the comparison ignores (spacing, float noise)."""
    norm = "\n".join(" ".join(_norm_token(t) for t in line.split()) for line in _lines(text))
    return hashlib.sha256(norm.encode("utf-8", "replace")).hexdigest()[:16]


def canonical_value(value: Any) -> Any:
    """A JSON value up to ==-equality and float noise (behaviour signatures): bools as ints
    (True == 1), floats rounded to 6 significant digits, integral floats as ints (2.0 == 2)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        rounded = float(format(value, ".6g"))
        return int(rounded) if rounded.is_integer() and abs(rounded) < 1e15 else rounded
    if isinstance(value, (list, tuple)):
        return [canonical_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): canonical_value(v) for k, v in value.items()}
    return value


def value_digest(value: Any) -> str:
    blob = json.dumps(canonical_value(value), sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(blob.encode("utf-8", "replace")).hexdigest()[:16]


def judge(expect: tuple | None, status: str, stdout: str, records: list[dict]) -> tuple[bool | None, str]:
    """(passed, reason) for one run; passed is None for runs without an expectation."""
    if expect is None:
        return None, ""
    kind = expect[0]
    if kind == "marker":
        checks = [r for r in records if "check" in r]
        if checks:
            return checks[-1]["check"] == "pass", str(checks[-1].get("error") or "")
        return False, f"no check result ({status})"
    if status != "ok":
        return False, status
    if kind == "stdout":
        return (True, "") if outputs_match(stdout, expect[1]) else (False, "wrong output")
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
        return (True, "") if values_match(last["result"], expected) else (False, "wrong result")
    raise ValueError(f"unknown expectation {kind!r}")
