"""The executor's data types: limits, jobs and runs in; job and run results out (all picklable)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

from harness.errors import MissingPrerequisiteError


class SandboxError(MissingPrerequisiteError, RuntimeError):
    """The sandbox could not be started (or was asked for isolation the host cannot give)."""


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 6.0  # per run (per test)
    backstop_s: float = 120.0  # cap on the total time of one job
    memory_mb: int = 2048  # RLIMIT_AS per process and the memory cgroup of the slot
    max_procs: int = 64  # RLIMIT_NPROC (per slot uid) and pids.max (per slot cgroup)
    max_output_bytes: int = 32 << 20  # RLIMIT_FSIZE: stdout, stderr and any file written
    max_open_files: int = 256
    tmp_mb: int = 256  # the private /tmp


@dataclass(frozen=True)
class Run:
    """One process: `python -S <argv...>` in the sandbox with `stdin` as its standard input.

    expect: None (behaviour only), ("stdout", expected_text), ("json", expected_json_text) or
    ("marker",) (a runner's {"check": "pass"} record). channel: prepend a line
    "<nonce> <fd>" to stdin and collect the runner's nonce-tagged records from that fd.
    always: run even after an earlier check failed (behaviour inputs).
    """

    argv: tuple[str, ...]
    stdin: bytes = b""
    expect: tuple | None = None
    timeout_s: float | None = None
    always: bool = False
    channel: bool = False


@dataclass(frozen=True)
class Job:
    files: Mapping[str, str]  # written into the program's private /tmp (its working directory)
    runs: tuple[Run, ...]
    compile: tuple[tuple[str, str], ...] = ()  # (label, source) pairs compiled before any run
    stop_on_failure: bool = True
    stop_after_timeout: bool = True  # a run that timed out skips every later run, `always` or not
    backstop_s: float | None = None


RunStatus = Literal["ok", "failed", "timeout", "memory", "output_limit", "skipped", "error"]


@dataclass(frozen=True)
class RunResult:
    """How one Run ended (the code grader maps it to a verdict, harness.grading.code_types)."""

    status: RunStatus
    """ok (exit 0), failed (non-zero exit or signal), timeout (wall or CPU limit), memory (out of
    memory), output_limit (too much output), skipped (an earlier check failed), error (sandbox)."""
    returncode: int | None = None
    """The process's exit status (negative: killed by that signal); None when it never ran."""
    passed: bool | None = None
    """Whether the run met its `expect`; None for runs without one (behaviour inputs)."""
    wall_s: float = 0.0
    """Wall-clock seconds the run took."""
    stdout_digest: str | None = None
    """A digest of the normalised stdout (compare.stdout_digest), for behaviour clusters."""
    stdout_head: str = ""
    """The start of stdout, for messages."""
    stderr_tail: str = ""
    """The end of stderr, for messages."""
    records: tuple = ()
    """The runner's channel records (dicts of plain literals written by sandboxed code)."""
    detail: str = ""
    """A short human reason for the status."""


@dataclass(frozen=True)
class JobResult:
    runs: tuple[RunResult, ...] = ()
    compile_error: str | None = None
    error: str | None = None  # the sandbox failed: a grader error, not a verdict
    wall_s: float = 0.0
