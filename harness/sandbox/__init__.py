"""Sandboxed execution of untrusted Python programs (DESIGN.md section 8).

`Executor` runs `Job`s (one candidate: program files + one process per test) on all cores
with process-group, rlimit, user, namespace and cgroup isolation as far as the host allows;
`Executor.isolation()` says what was in force. See executor.py and isolation.py.
"""

from harness.sandbox.executor import Executor, Job, JobResult, Limits, Run, RunResult, SandboxError

__all__ = ["Executor", "Job", "JobResult", "Limits", "Run", "RunResult", "SandboxError"]
