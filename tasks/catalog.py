"""The built-in tasks as registry entries (pyproject.toml, entry-point group `harness.tasks`).

One small factory per registry name: its docstring is the summary `python -m harness list`
shows (read from this file's source, nothing imported), and it imports the task module only
when called. Signature of every factory: `(settings, arg=None, hub_id=None) -> task`, where
`arg` is the text after the colon of `--task name:arg`.

A factory may carry a `held_out(problem) -> (label, reason) | None` hook: the trainers'
evaluation guard asks it whether a problem belongs to a split that training must not see.
"""

from __future__ import annotations

import re
from typing import Any

_ARITH_ID = re.compile(r"^arith-([a-z0-9]+(?:-step)?)-(\d+(?:-\d+)*)$")


def _math(name: str, settings: Any, arg: str | None, hub_id: str | None):
    from tasks.math_tasks import make_math_task

    return make_math_task(name)(settings, arg, hub_id=hub_id)


def aime24(settings, arg=None, hub_id=None):
    """AIME 2024 I+II (30 problems, integer answers)"""
    return _math("aime24", settings, arg, hub_id)


def aime25(settings, arg=None, hub_id=None):
    """AIME 2025 I+II (30 problems, integer answers)"""
    return _math("aime25", settings, arg, hub_id)


def hmmt25(settings, arg=None, hub_id=None):
    """HMMT February 2025 (30 final-answer problems)"""
    return _math("hmmt25", settings, arg, hub_id)


def math500(settings, arg=None, hub_id=None):
    """MATH-500 (hub HuggingFaceH4/MATH-500 or local math500/)"""
    return _math("math500", settings, arg, hub_id)


def math_cot_100(settings, arg=None, hub_id=None):
    """100 MATH test problems (local data; the Qwen2.5-Math pool)"""
    return _math("math_cot_100", settings, arg, hub_id)


def math_l5(settings, arg=None, hub_id=None):
    """360 MATH level-5 problems (local data; the ZeroEval cross-model pool)"""
    return _math("math_l5", settings, arg, hub_id)


def math(settings, arg=None, hub_id=None):
    """MATH-style family: --task math:<subdir> reads <data_dir>/<subdir>"""
    from tasks.math_tasks import math_family

    return math_family(settings, arg, hub_id=hub_id)


def arith(settings=None, arg=None, hub_id=None):
    """embedded arithmetic word problems (offline; --task arith:level=mul1,n=30)"""
    from tasks.arith import arith as make

    return make(settings, arg)


def _arith_held_out(problem) -> tuple[str, str] | None:
    """The arith test split: every problem whose (operation, operands) tuple belongs to it."""
    from tasks.arith import split_of

    meta = problem.metadata or {}
    if not problem.id.startswith("arith-") and meta.get("op") is None:
        return None
    op, operands = meta.get("op"), meta.get("operands")
    if op is None or operands is None:
        match = _ARITH_ID.match(problem.id)
        if not match:
            return None
        op, operands = match.group(1), [int(x) for x in match.group(2).split("-")]
    try:
        test = split_of(str(op), tuple(int(x) for x in operands)) == "test"
    except (TypeError, ValueError):
        return None
    return ("arith (test split)", "operands belong to the arith test split") if test else None


arith.held_out = _arith_held_out  # type: ignore[attr-defined]


def livecodebench(settings, arg=None, hub_id=None):
    """LiveCodeBench code generation (v6 window Aug 2024 - May 2025 by default)"""
    from tasks.code_tasks import livecodebench as make

    return make(settings, arg, hub_id=hub_id)


def humaneval(settings, arg=None, hub_id=None):
    """HumanEval (164 problems, check() tests)"""
    from tasks.code_tasks import humaneval as make

    return make(settings, arg, hub_id=hub_id)
