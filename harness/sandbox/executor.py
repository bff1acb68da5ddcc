"""The sandboxed executor: run untrusted Python programs on all cores, isolated (see isolation.py).

    with Executor(workers=2) as ex:
        print(ex.isolation())                  # which isolation is in force on this host
        for i, result in ex.map(jobs): ...     # completion order; ex.run(jobs) keeps job order

A `Job` is one candidate: its program files, compiled once (SyntaxError -> compile_error, no
run), then a sequence of `Run`s (one process each: one test, or one runner invocation). Each run
has its own timeout (6 s default) and the job an overall backstop; after the first failing
check the remaining runs are skipped unless marked `always` (behaviour inputs still run).

Jobs are executed by worker processes (`python -m harness.sandbox.worker`), one per core, each
owning a slot: its own unprivileged uid, cgroups and scratch tmpfs. The parent only dispatches;
a worker that crashes or hangs is replaced, and its job comes back with `error` set. A job whose
sandbox could not be set up (no interpreter, failed pre-exec step, no worker) also has `error`
set: callers must report that as a grader failure, never as a wrong answer.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Iterator, Sequence, cast

from harness.sandbox import cgroups
from harness.sandbox import isolation as iso
from harness.sandbox.spec import Job, JobResult, Limits, Run, RunResult, SandboxError
from harness.settings import SANDBOX_MODES as MODES

__all__ = ["Executor", "Job", "JobResult", "Limits", "Run", "RunResult", "SandboxError"]

_INSTANCE = itertools.count()
_UID_BASE = 100_000  # slot uids live above every regular account


@dataclass
class _Worker:
    slot: int
    proc: subprocess.Popen | None = None
    conn: Connection | None = None
    queue: deque = field(default_factory=deque)  # indices of the jobs sent, oldest first
    deadline: float = 0.0
    report: dict = field(default_factory=dict)


class Executor:
    """A pool of sandbox workers. isolation: "auto" (what the host offers, warnings for the rest;
    SandboxError if it offers no namespaces at all: neither root nor user namespaces), "strict"
    (SandboxError unless a separate identity, network, PID and filesystem isolation all hold) or
    "none" (process group + rlimits + scrubbed env only: programs run as the caller, with the
    caller's files and network; only when asked for explicitly, and for comparison runs)."""

    def __init__(self, workers: int = 0, limits: Limits | None = None, python: str | None = None,
                 isolation: str = "auto", startup_timeout: float = 60.0, use_cgroups: bool = True) -> None:
        if isolation not in MODES:
            raise ValueError(f"isolation must be one of {', '.join(MODES)}, got {isolation!r}")
        self.limits = limits or Limits()
        self.workers_n = max(1, min(workers or os.cpu_count() or 1, 64))
        self.python = python or sys.executable
        self.mode = isolation
        self.startup_timeout = startup_timeout
        self.use_cgroups = use_cgroups
        self.tag = f"{os.getpid()}-{next(_INSTANCE)}"
        self._workers: list[_Worker] = []
        self._slots: list[cgroups.Slot] = []
        self._report: dict[str, Any] | None = None
        self._start_error: str | None = None
        self._started = False
        pid_part = (os.getpid() % 4_000_000) * 16 + int(self.tag.rsplit("-", 1)[1]) % 16
        self.uid_base = _UID_BASE + (pid_part * 64) % (2**32 - 2 - _UID_BASE - 64)

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> "Executor":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def uids(self) -> list[int]:
        if iso.is_root() and self.mode != "none":
            return [self.uid_base + i for i in range(self.workers_n)]
        return []

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        warnings: list[str] = []
        root = iso.is_root()
        if not os.path.exists(self.python):
            self._start_error = f"sandbox interpreter not found: {self.python}"
        elif self.mode != "none" and root and self.use_cgroups:
            # + headroom for the worker process itself, which lives in its slot's cgroups
            self._slots, cg_warn = cgroups.create_slots(self.tag, self.workers_n, self.limits.max_procs + 4,
                                                        (self.limits.memory_mb + 256) << 20)
            warnings += cg_warn
        paths: list[str] = []
        site: list[str] = []
        try:
            if self._start_error is None:
                paths, site = iso.interpreter_paths(self.python)
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            self._start_error = f"sandbox interpreter {self.python} does not run: {exc}"
        userns = (not root and self.mode != "none" and iso.userns_available())
        self._config = {"python": self.python, "limits": asdict(self.limits), "mode": self.mode,
                        "paths": paths, "site": site, "userns": userns, "root": root}
        if self._start_error is None:
            for index in range(self.workers_n):
                worker = _Worker(slot=index)
                self._workers.append(worker)
                self._spawn(worker)
            ready = [w for w in self._workers if w.conn is not None]
            if not ready:
                self._start_error = "no sandbox worker could start: " + "; ".join(
                    w.report.get("error", "?") for w in self._workers)
        self._report = self._summarise(warnings)
        missing = self._report["missing"]
        if self.mode == "strict" and (self._start_error or missing):
            problems = [self._start_error] if self._start_error else missing + self._report["warnings"]
            self.close()
            raise SandboxError("strict isolation not available: " + "; ".join(problems))
        if (self.mode == "auto" and self._start_error is None and not self.uids
                and not self._report["network_namespace"] and not self._report["mount_namespace"]):
            self.close()
            raise SandboxError(
                "no sandbox isolation on this host (not root, and user namespaces are not allowed"
                + (": " + "; ".join(self._report["warnings"]) if self._report["warnings"] else "")
                + "): generated code would run as you, with your files and network. Install and allow "
                "user namespaces (sysctl kernel.unprivileged_userns_clone=1 / user.max_user_namespaces), "
                "run as root, or pass --sandbox none (env HARNESS_SANDBOX=none) to run it unisolated.")

    def _spawn(self, worker: _Worker) -> None:
        slot = self._slots[worker.slot] if worker.slot < len(self._slots) else None
        self._sweep(worker.slot)
        cfg = {**self._config, "slot": worker.slot,
               "uid": ((self.uid_base + worker.slot) if self._config["root"] and self.mode != "none"
                       else None),
               "cgroup": slot.dirs if slot else None,
               "cgroup_mounts": (sorted({cgroups.mount_point_of(d) for d, _ in slot.dirs.values()})
                                 if slot else [])}
        parent_sock, child_sock = socket.socketpair()
        env = dict(os.environ)
        root_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = root_dir + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        try:
            worker.proc = subprocess.Popen([sys.executable, "-m", "harness.sandbox.worker",
                                            str(child_sock.fileno())],
                                           pass_fds=(child_sock.fileno(),), stdin=subprocess.DEVNULL, env=env)
        except OSError as exc:
            worker.report = {"error": f"cannot start worker: {exc}"}
            parent_sock.close()
            child_sock.close()
            return
        child_sock.close()
        conn = Connection(parent_sock.detach())
        try:
            conn.send(cfg)
            if not conn.poll(self.startup_timeout):
                raise EOFError("worker did not report ready")
            kind, payload = conn.recv()
        except (EOFError, OSError) as exc:
            kind, payload = "failed", f"worker died during start-up ({exc})"
        if kind != "ready":
            worker.report = {"error": str(payload)}
            conn.close()
            self._kill(worker)
            return
        worker.conn, worker.report = conn, payload

    def _kill(self, worker: _Worker) -> None:
        if worker.proc is not None and worker.proc.poll() is None:
            worker.proc.kill()
            worker.proc.wait()
        if worker.conn is not None:
            worker.conn.close()
        worker.conn, worker.proc = None, None
        self._sweep(worker.slot)

    def _sweep(self, slot_index: int) -> None:
        if slot_index < len(self._slots):
            self._slots[slot_index].kill_all()
        elif self.uids:
            iso.kill_uid(self.uid_base + slot_index)

    def close(self) -> None:
        for worker in self._workers:
            if worker.conn is not None:
                try:
                    worker.conn.send(None)
                except OSError:
                    pass
            if worker.proc is not None:
                try:
                    worker.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
            self._kill(worker)
        for slot in self._slots:
            slot.remove()
        self._workers, self._slots = [], []

    # -- what is in force ------------------------------------------------------------------
    def _summarise(self, warnings: list[str]) -> dict[str, Any]:
        reports = [w.report for w in self._workers if w.conn is not None]
        first = reports[0] if reports else {}
        for report in reports[:1]:
            warnings = warnings + list(report.get("warnings", []))
        cg = {c: any(c in s.dirs for s in self._slots) for c in cgroups.CONTROLLERS}
        versions = sorted({v for s in self._slots for _, v in s.dirs.values()})
        lim = self.limits
        return {
            "mode": self.mode, "python": self.python, "workers": len(reports),
            "process_group": True,
            "rlimits": {"cpu_s": int(lim.timeout_s) + 1, "as_mb": lim.memory_mb, "nproc": lim.max_procs,
                        "fsize_bytes": lim.max_output_bytes, "nofile": lim.max_open_files, "core": 0},
            "user": (f"per-slot uid {self.uid_base}..{self.uid_base + self.workers_n - 1}" if self.uids
                     else f"uid {iso.SANDBOX_ID} of a user namespace per slot (host uid {os.getuid()})"
                     if first.get("pidns") else "unchanged (the caller's uid)"),
            "pid_namespace": bool(first.get("pidns")),
            "network_namespace": bool(first.get("netns")),
            "mount_namespace": bool(first.get("mountns")),
            "private_tmp": first.get("private_workdir") in ("box", "mount-namespace"),
            "workdir": first.get("private_workdir"),  # box | mount-namespace | host-tempdir
            "readonly_root": bool(first.get("readonly_root")),
            "nosuid_mounts": bool(first.get("readonly_root")),
            "hidden_dirs": first.get("hidden", []),
            "cgroups": {**cg, "version": versions[0] if versions else None},
            "env": "scrubbed: " + ",".join(sorted(iso.SAFE_ENV)),
            "spawn": first.get("spawn"),  # launcher (rlimits set before program code) | preexec
            "no_new_privs": first.get("spawn") == "preexec",  # the launcher path relies on nosuid mounts
            "start_error": self._start_error,
            "warnings": warnings,
            "missing": _missing(bool(self.uids), first),
        }

    def isolation(self) -> dict[str, Any]:
        self.start()
        assert self._report is not None
        return dict(self._report)

    # -- running jobs --------------------------------------------------------------------------
    def run(self, jobs: Sequence[Job]) -> list[JobResult]:
        out: list[JobResult | None] = [None] * len(jobs)
        for index, result in self.map(jobs):
            out[index] = result
        return out  # type: ignore[return-value]

    def map(self, jobs: Sequence[Job]) -> Iterator[tuple[int, JobResult]]:
        """(job index, result) in completion order; every job gets exactly one result.

        Each worker holds up to two jobs (the second waits in its socket), so it starts the
        next program without a round trip through this process; large jobs are only sent to
        idle workers (no two-way blocking on full socket buffers).
        """
        self.start()
        if self._start_error is not None:
            for index in range(len(jobs)):
                yield index, JobResult(error=self._start_error)
            return
        pending = deque(range(len(jobs)))
        respawns = 0
        for worker in self._workers:
            worker.queue = deque()
        while pending or any(w.queue for w in self._workers):
            for worker in self._workers:
                while pending and worker.conn is not None and len(worker.queue) < _DEPTH:
                    index = pending[0]
                    payload = _dumps((index, jobs[index]))
                    if worker.queue and len(payload) > _PREFETCH_BYTES:
                        break
                    pending.popleft()
                    try:
                        worker.conn.send_bytes(payload)
                    except OSError as exc:
                        yield index, JobResult(error=f"sandbox worker unreachable: {exc}")
                        yield from self._fail(worker, pending, "sandbox worker unreachable")
                        respawns += 1
                        self._spawn(worker)
                        break
                    if not worker.queue:
                        worker.deadline = time.monotonic() + self._budget(jobs[index])
                    worker.queue.append(index)
            busy = {w.conn.fileno(): w for w in self._workers if w.queue and w.conn is not None}
            if not busy:
                if pending:
                    if respawns >= 3 * self.workers_n:
                        while pending:
                            yield pending.popleft(), JobResult(error="no sandbox worker is running")
                        return
                    for worker in self._workers:
                        if worker.conn is None:
                            respawns += 1
                            self._spawn(worker)
                continue
            timeout = max(0.0, min(w.deadline for w in busy.values()) - time.monotonic())
            for ready in wait([w.conn for w in busy.values() if w.conn is not None], timeout=timeout):
                worker = busy[cast(Connection, ready).fileno()]
                assert worker.conn is not None  # busy holds connected workers only
                try:
                    got_index, result = worker.conn.recv()
                    if got_index != worker.queue[0]:
                        raise EOFError("out of order")
                except (EOFError, OSError) as exc:
                    code = worker.proc.poll() if worker.proc else None
                    yield from self._fail(worker, pending,
                                          f"sandbox worker crashed (exit {code}; {type(exc).__name__})")
                    respawns += 1
                    self._spawn(worker)
                    continue
                worker.queue.popleft()
                if worker.queue:
                    worker.deadline = time.monotonic() + self._budget(jobs[worker.queue[0]])
                yield got_index, result
            now = time.monotonic()
            for worker in busy.values():
                if worker.queue and worker.deadline <= now:
                    yield from self._fail(worker, pending,
                                          "sandbox worker hung past the job's backstop; killed")
                    respawns += 1
                    self._spawn(worker)

    def _budget(self, job: Job) -> float:
        return min(job.backstop_s or self.limits.backstop_s, self.limits.backstop_s) + 30.0

    def _fail(self, worker: _Worker, pending: deque, why: str) -> Iterator[tuple[int, JobResult]]:
        """The worker's current job gets an error; its queued jobs go back to the front."""
        queue = list(worker.queue)
        worker.queue = deque()
        self._kill(worker)
        if queue:
            yield queue[0], JobResult(error=why)
            pending.extendleft(reversed(queue[1:]))




def _missing(slot_uids: bool, first: dict) -> list[str]:
    """The protections strict isolation requires that a worker's report does not show."""
    wanted = {
        "a separate identity (per-slot uid or own PID namespace)": slot_uids or bool(first.get("pidns")),
        "network namespace": bool(first.get("netns")),
        "read-only root": bool(first.get("readonly_root")),
        "private working directory": first.get("private_workdir") in ("box", "mount-namespace"),
    }
    return [name for name, ok in wanted.items() if not ok]


_DEPTH = 2
_PREFETCH_BYTES = 32 << 10


def _dumps(obj: Any) -> bytes:
    from multiprocessing.reduction import ForkingPickler

    return bytes(ForkingPickler.dumps(obj))

