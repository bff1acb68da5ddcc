"""Programs that run *inside* the sandbox: the LCB import prelude and two runner scripts.

Runners talk to the worker over an extra file descriptor: the worker prepends "<nonce> <fd>"
to stdin; the runner reads it (and a JSON spec line), points fd 0 at /dev/null, and writes
"<nonce>{json}" records to that fd. A program that exits early (sys.exit, os._exit) therefore
leaves no result record and is never scored as passing; forging a record needs the nonce.
"""

from __future__ import annotations

import re

# Mirrors LiveCodeBench's import string: model solutions routinely rely on these names
# (List, defaultdict, heapq, inf, ...) without importing them.
LCB_PRELUDE = """\
import sys, os
sys.path.extend(p for p in os.environ.get("HARNESS_SANDBOX_SITE", "").split(os.pathsep) if p)
import io, re, math, string, json, copy, random, heapq, bisect, operator, functools, itertools, collections, statistics, datetime, typing, fractions, decimal, array
random.seed(0)
from string import *
from re import *
from datetime import *
from collections import *
from heapq import *
from bisect import *
from copy import *
from math import *
from random import *
from statistics import *
from itertools import *
from functools import *
from operator import *
from io import *
from sys import *
from json import *
from builtins import *
from typing import *
sys.setrecursionlimit(50000)
"""  # noqa: E501 - the import line is LiveCodeBench's, verbatim (it is part of every graded program)

_FUTURE = re.compile(r"^from __future__ import [^\n]*\n?", re.MULTILINE)


def with_prelude(code: str) -> str:
    """The LCB prelude before the solution (`from __future__` lines stay first)."""
    futures = "".join(m.group(0).rstrip("\n") + "\n" for m in _FUTURE.finditer(code))
    body = _FUTURE.sub("", code) if futures else code
    return futures + LCB_PRELUDE + "\n" + body


# The runners import nothing beyond builtin modules (json alone costs ~8 ms per process here):
# the spec line is a Python literal written by the grader, records are written as Python
# literals (repr of plain values) and read back by the worker with ast.literal_eval.
_COMMON = r'''
import os as _os, sys as _sys
_sys.path.extend(p for p in _os.environ.get("HARNESS_SANDBOX_SITE", "").split(_os.pathsep) if p)
_head = _sys.stdin.readline().split()
_NONCE, _FD = _head[0], int(_head[1])
_SPEC = eval(_sys.stdin.readline(), {"__builtins__": {}})
_null = _os.open(_os.devnull, _os.O_RDONLY)
_os.dup2(_null, 0)
_os.close(_null)
del _head, _null


def _plain(value, depth=0):
    # A value as plain literals (what the worker's ast.literal_eval accepts): tuples stay
    # tuples (the comparison decides: LCB makes only a top-level tuple a list), anything else
    # unknown becomes a tagged repr that equals nothing.
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if value == value and value not in (float("inf"), float("-inf")):
            return value
        return ["__float__", repr(value)]
    if depth > 50:
        return ["__deep__"]
    if isinstance(value, list):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return {(_plain(k, depth + 1) if isinstance(k, (str, int, bool)) or k is None else repr(k)):
                _plain(v, depth + 1) for k, v in value.items()}
    return ["__repr__", type(value).__name__, repr(value)[:200]]


def _emit(record, _nonce=_NONCE, _fd=_FD, _write=_os.write):
    _write(_fd, (_nonce + repr(record) + "\n").encode("utf-8", "replace"))


def _error(stage, exc):
    return {"stage": stage, "error": type(exc).__name__, "message": str(exc)[:300]}


def _load(path, name):
    with open(path, "rb") as handle:
        source = handle.read()
    namespace = {"__name__": name, "__builtins__": __builtins__}
    exec(source, namespace)  # exec(bytes): no compile() call, which would build the _ast types
    return namespace
'''

# LeetCode-style functional test: Solution().<func_name>(*args); the grader turned the JSON
# input lines (one argument each) into the literal list spec["args"].
FUNCTIONAL_RUNNER = _COMMON + r'''

def _main():
    try:
        ns = _load("solution.py", "__solution__")
    except BaseException as exc:
        _emit(_error("load", exc))
        return
    name = _SPEC["func_name"]
    try:
        owner = ns.get("Solution")
        fn = getattr(owner(), name) if owner is not None else ns[name]
    except BaseException as exc:
        _emit(_error("setup", exc))
        return
    try:
        result = fn(*_SPEC["args"])
    except BaseException as exc:
        _emit(_error("call", exc))
        return
    try:
        _emit({"result": _plain(result)})
    except BaseException as exc:
        _emit(_error("result", exc))


_main()
_sys.stdout.flush()
'''

# HumanEval: the official program (prompt + completion + test + check(entry_point)), then the
# behaviour calls on a fresh copy of the solution, each under its own timer.
HUMANEVAL_RUNNER = _COMMON + r'''
import signal as _signal


class _CallTimeout(BaseException):
    pass


def _alarm(signum, frame):
    raise _CallTimeout()


def _canon(value, depth=0):
    if depth > 20:
        return "<deep>"
    if isinstance(value, bool):
        return int(value)  # True == 1 for the tests' == comparisons
    if value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if value != value or abs(value) == float("inf"):
            return repr(value)
        rounded = float(format(value, ".6g"))
        return int(rounded) if rounded.is_integer() and abs(rounded) < 1e15 else rounded
    if isinstance(value, (list, tuple)):
        return [type(value).__name__] + [_canon(v, depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        return ["set"] + sorted((_canon(v, depth + 1) for v in value), key=repr)
    if isinstance(value, dict):
        return ["dict"] + sorted(([_canon(k, depth + 1), _canon(v, depth + 1)] for k, v in value.items()),
                                 key=repr)
    return "<" + type(value).__name__ + ">"


def _main():
    entry = _SPEC["entry_point"]
    with open("solution.py", "rb") as a, open("test.py", "rb") as b:
        program = a.read() + b"\n" + b.read() + b"\ncheck(" + entry.encode() + b")\n"
    try:
        exec(program, {"__name__": "__solution__", "__builtins__": __builtins__})
        _emit({"check": "pass"})
    except AssertionError as exc:
        _emit({"check": "fail", "error": "AssertionError", "message": str(exc)[:200]})
    except BaseException as exc:
        _emit({"check": "error", "error": type(exc).__name__, "message": str(exc)[:200]})
    calls = _SPEC.get("behaviour") or []
    if not calls:
        return
    try:
        ns = _load("solution.py", "__solution__")
        fn = ns[entry]
    except BaseException as exc:
        _emit({"behaviour": None, "error": type(exc).__name__})
        return
    _signal.signal(_signal.SIGALRM, _alarm)
    per_call = float(_SPEC.get("call_timeout", 1.0))
    out = []
    for args in calls:
        try:
            _signal.setitimer(_signal.ITIMER_REAL, per_call)
            try:
                value = eval("__f(" + args + ")", {**ns, "__f": fn})
            finally:
                _signal.setitimer(_signal.ITIMER_REAL, 0)
            out.append(_canon(value))
        except _CallTimeout:
            out.append("!TIMEOUT")
        except BaseException as exc:
            out.append("!" + type(exc).__name__)
    _emit({"behaviour": out})


_main()
_sys.stdout.flush()
'''
