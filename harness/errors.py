"""One root for every error a user can fix: `HarnessError` and its kinds.

A HarnessError's message says what went wrong and how to fix it; the CLI prints it as one line
(`error: ...`) and exits with status 2. Every other exception (a plain ValueError from a shape
bug, a KeyError, ...) is a defect and keeps its traceback.

    HarnessError
      ConfigError               a flag, config file or option that cannot work
      DataError                 task data, JSONL files, imported generations
        MissingFileError        an input path that does not exist (also a FileNotFoundError)
      PoolError                 candidate pools (unknown reference, too few candidates, ...)
      PluginError               unknown task / selector / backend / command
      CheckpointError           no trained selector checkpoint, or an unknown one
      BackendError              a generation backend failed or was misused
      MissingPrerequisiteError  an optional package is not installed (names the pip extra)
      GraderFailureError        too many candidates could not be graded

Modules keep their historical names as subclasses (e.g. `harness.task.TaskDataError` is a
DataError), so `except TaskDataError` and `except DataError` both work.
"""

from __future__ import annotations

__all__ = ["HarnessError", "ConfigError", "DataError", "MissingFileError", "PoolError", "PluginError",
           "CheckpointError", "BackendError", "MissingPrerequisiteError", "GraderFailureError"]


class HarnessError(Exception):
    """An error the user can fix; `fix`, when given, is appended as the way out."""

    def __init__(self, message: str = "", *args: object, fix: str | None = None) -> None:
        super().__init__(message, *args)
        self.message = str(message)
        self.fix = fix

    def __str__(self) -> str:
        text = self.message if self.message else super().__str__()
        return f"{text} ({self.fix})" if self.fix else text


class ConfigError(HarnessError):
    """A run, compare or training configuration that cannot work (bad flag, value or key)."""


class DataError(HarnessError):
    """Unreadable or inconsistent data: task files, JSONL records, imported generations."""


class MissingFileError(DataError, FileNotFoundError):
    """An input file or folder that does not exist (also a FileNotFoundError)."""


class PoolError(HarnessError):
    """A candidate pool that does not exist, is ambiguous, or cannot serve the request."""


class PluginError(HarnessError):
    """A plugin (task, selector, backend, command) that is unknown or cannot be loaded."""


class CheckpointError(HarnessError):
    """A trained selector checkpoint that is missing or unknown."""


class BackendError(HarnessError):
    """A generation backend failed (server error, bad model file) or was misused."""


class MissingPrerequisiteError(HarnessError):
    """An optional dependency is not installed; the message names what to install.

    `MissingPrerequisiteError.package("vllm", extra="vllm", purpose="the vllm backend")` reads
    "the vllm backend needs vllm, which is not installed: pip install -e '.[vllm]'".
    """

    def __init__(self, message: str = "", *args: object, name: str | None = None, extra: str | None = None,
                 fix: str | None = None) -> None:
        super().__init__(message, *args, fix=fix)
        self.name = name
        self.extra = extra

    @classmethod
    def package(cls, name: str, extra: str | None = None, *, purpose: str = "",
                install: str | None = None) -> "MissingPrerequisiteError":
        how = install or (f"pip install -e '.[{extra}]'" if extra else f"pip install {name}")
        return cls(f"{purpose or 'this'} needs {name}, which is not installed: {how}", name=name, extra=extra)


class GraderFailureError(HarnessError):
    """Too many candidates could not be graded (a broken grader or malformed data)."""
