"""Layers: `harness` imports neither `tasks` nor `trainers`, not even lazily or by string.

Dependencies point one way (DESIGN.md section 2): tasks and trainers import harness, and harness
reaches them only through the registry's entry points (pyproject.toml).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[2] / "harness"
UPPER = ("tasks", "trainers")
# a string that names a module path of an upper layer: "tasks.math_tasks", "trainers.train:main"
# (a bare "tasks" is a word, e.g. a dict key; it counts only as the argument of an import call)
MODULE_STRING = re.compile(r"^(?:%s)(?:(?:\.[A-Za-z_]\w*)+(?::[A-Za-z_][\w.]*)?|:[A-Za-z_][\w.]*)$"
                           % "|".join(UPPER))
IMPORT_CALLS = ("import_module", "__import__", "find_spec")


def _upper(module: str | None) -> bool:
    return bool(module) and module.split(".")[0] in UPPER


def violations(source: str, filename: str = "<string>") -> list[str]:
    """Every import of, or module-path string naming, `tasks` / `trainers` in one module."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [f"{filename}:{node.lineno}: import {a.name}" for a in node.names if _upper(a.name)]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and _upper(node.module):
                found.append(f"{filename}:{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and MODULE_STRING.match(node.value):
            found.append(f"{filename}:{node.lineno}: string {node.value!r}")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in IMPORT_CALLS and isinstance(node.args[0].value, str) and _upper(node.args[0].value):
                found.append(f"{filename}:{node.lineno}: {name}({node.args[0].value!r})")
    return found


def test_harness_never_imports_tasks_or_trainers():
    files = sorted(HARNESS.rglob("*.py"))
    assert len(files) > 20  # the walk really found the package
    problems = [v for path in files for v in violations(path.read_text(encoding="utf-8"), str(path))]
    assert not problems, ("harness must reach tasks/trainers only through entry points:\n"
                          + "\n".join(problems))


@pytest.mark.parametrize("source", [
    "import tasks.math_tasks", "from trainers.train import main", "import trainers",
    "def f():\n    from tasks import arith", "REG.add_lazy('x', 'tasks.math_tasks:TASK_FACTORIES.aime24')",
    "importlib.import_module('trainers.train')", "__import__('tasks')", "x = 'trainers:main'",
])
def test_the_checker_catches(source):
    assert violations(source)


@pytest.mark.parametrize("source", [
    "import harness.tasks_helper", "from harness import task",
    "x = 'tasks are listed by python -m harness list'",
    "from . import tasks", "y = 'trainers/configs/cpu-smoke.yaml'", "REGISTRIES = {'tasks': 1}",
])
def test_the_checker_allows(source):
    assert not violations(source)


def test_builtins_come_from_entry_points():
    """The built-in tasks, selectors, backends and the train command are entry points, with summaries."""
    from harness.plugins import COMMANDS, SELECTORS, TASKS

    entries = {e.name: e for e in TASKS.entries()}
    assert {"aime24", "math_l5", "arith", "livecodebench"} <= set(entries)
    assert entries["aime24"].origin == "builtin" and entries["aime24"].target.startswith("tasks.")
    assert entries["aime24"].summary.startswith("AIME 2024")
    assert all(e.summary for e in SELECTORS.entries())
    assert "train" in COMMANDS.names()
