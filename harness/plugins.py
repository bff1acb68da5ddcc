"""The plugin registries. Every entry, built-in or not, comes from an entry point.

The built-ins are this project's own entry points (pyproject.toml): tasks from the `tasks`
package, selectors and backends from `harness.selectors` / `harness.backends`, and the `train`
command from `trainers`. Third-party packages add theirs to the same groups (harness.tasks,
harness.selectors, harness.backends, harness.commands); `python -m harness list` shows them all.
Nothing is imported until an entry is used, so `harness` never imports `tasks` or `trainers`.
"""

from __future__ import annotations

from typing import Any

from harness.registry import Registry

TASKS: Registry[Any] = Registry("task", "harness.tasks")
SELECTORS: Registry[Any] = Registry("selector", "harness.selectors")
BACKENDS: Registry[Any] = Registry("backend", "harness.backends")
# CLI subcommands from other packages: an entry point names `add(subparsers) -> handler`, where
# `add` creates its subparser and `handler(args, settings) -> int` runs it (see harness.cli).
COMMANDS: Registry[Any] = Registry("command", "harness.commands")

REGISTRIES = {"tasks": TASKS, "selectors": SELECTORS, "backends": BACKENDS, "commands": COMMANDS}


def load_task(name: str, settings, hub_id: str | None = None):
    """Build a task from a registry name; 'family:arg' passes arg to the family's factory."""
    base, _, arg = name.partition(":")
    factory = TASKS.get(base)
    return factory(settings, arg or None, hub_id=hub_id) if arg or hub_id else factory(settings)


def make_selector(name: str, **options: Any):
    return SELECTORS.get(name)(**options)


def make_backend(name: str, model: str, **options: Any):
    """A backend instance; options are the backend constructor's keyword arguments.

    'family:arg' names pass arg as the backend's model type (`lm-eval:hf` -> model_type="hf").
    """
    base, _, arg = name.partition(":")
    if arg:
        options = {"model_type": arg, **options}
    return BACKENDS.get(base)(model=model, **options)
