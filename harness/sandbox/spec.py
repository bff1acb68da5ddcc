"""The executor's data types: limits, jobs and runs in; job and run results out (all picklable)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


class SandboxError(RuntimeError):
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


@dataclass(frozen=True)
class RunResult:
    status: str  # ok | failed | timeout | memory | output_limit | skipped | error
    returncode: int | None = None
    passed: bool | None = None
    wall_s: float = 0.0
    stdout_digest: str | None = None  # normalised stdout (compare.stdout_digest)
    stdout_head: str = ""
    stderr_tail: str = ""
    records: tuple = ()  # the runner's channel records (dicts of plain literals)
    detail: str = ""


@dataclass(frozen=True)
class JobResult:
    runs: tuple[RunResult, ...] = ()
    compile_error: str | None = None
    error: str | None = None  # the sandbox failed: a grader error, not a verdict
    wall_s: float = 0.0
