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
"""

_FUTURE = re.compile(r"^from __future__ import [^\n]*\n?", re.MULTILINE)


def with_prelude(code: str) -> str:
    """The LCB prelude before the solution (`from __future__` lines stay first)."""
    futures = "".join(m.group(0).rstrip("\n") + "\n" for m in _FUTURE.finditer(code))
    body = _FUTURE.sub("", code) if futures else code
    return futures + LCB_PRELUDE + "\n" + body


_COMMON = r'''
import json as _json, os as _os, sys as _sys
_sys.path.extend(p for p in _os.environ.get("HARNESS_SANDBOX_SITE", "").split(_os.pathsep) if p)
_head = _sys.stdin.readline().split()
_NONCE, _FD = _head[0], int(_head[1])
_SPEC = _json.loads(_sys.stdin.readline())
_null = _os.open(_os.devnull, _os.O_RDONLY)
_os.dup2(_null, 0)
_os.close(_null)
del _head, _null


def _emit(record, _nonce=_NONCE, _fd=_FD, _dumps=_json.dumps, _write=_os.write):
    try:
        line = _dumps(record, default=repr)
    except (TypeError, ValueError):
        line = _dumps({k: repr(v) for k, v in record.items()})
    _write(_fd, (_nonce + line + "\n").encode("utf-8", "replace"))


def _error(stage, exc):
    return {"stage": stage, "error": type(exc).__name__, "message": str(exc)[:300]}


def _load(path, name):
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    namespace = {"__name__": name, "__builtins__": __builtins__}
    exec(compile(source, path, "exec"), namespace)
    return namespace
'''

# LeetCode-style functional test: Solution().<func_name>(*args), one JSON argument per line.
FUNCTIONAL_RUNNER = _COMMON + r'''

def _main():
    try:
        ns = _load("solution.py", "__solution__")
    except BaseException as exc:
        _emit(_error("load", exc))
        return
    name = _SPEC["func_name"]
    try:
        args = [_json.loads(line) for line in _SPEC["input"].split("\n") if line.strip()]
        owner = ns.get("Solution")
        fn = getattr(owner(), name) if owner is not None else ns[name]
    except BaseException as exc:
        _emit(_error("setup", exc))
        return
    try:
        result = fn(*args)
    except BaseException as exc:
        _emit(_error("call", exc))
        return
    if isinstance(result, tuple):
        result = list(result)
    _emit({"result": result})


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
        return ["dict"] + sorted(([_canon(k, depth + 1), _canon(v, depth + 1)] for k, v in value.items()), key=repr)
    return "<" + type(value).__name__ + ">"


def _main():
    entry = _SPEC["entry_point"]
    program = open("solution.py", encoding="utf-8").read() + "\n" + open("test.py", encoding="utf-8").read() \
        + "\ncheck(" + entry + ")\n"
    try:
        exec(compile(program, "program.py", "exec"), {"__name__": "__solution__", "__builtins__": __builtins__})
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
                value = eval(compile("__f(" + args + ")", "<behaviour>", "eval"), {**ns, "__f": fn})
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
