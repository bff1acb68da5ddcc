"""A sandbox worker process: `python -m harness.sandbox.worker <socket fd>` (started by Executor).

Receives its slot configuration, sets up its namespaces once (isolation.setup_worker), reports
ready, then executes jobs one at a time: every run is a fresh process (Popen + launcher or
pre-exec step, see isolation.py), waited on through a pidfd with the run's timeout; its whole
process group and every process left in the slot are killed afterwards, and its outputs are
read from files capped by RLIMIT_FSIZE.
"""

from __future__ import annotations

import ast
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from typing import Any

from harness.sandbox import compare, linux
from harness.sandbox import isolation as iso
from harness.sandbox.cgroups import Slot
from harness.sandbox.pidns import NamespaceInit
from harness.sandbox.spec import Job, JobResult, Limits, Run, RunResult, RunStatus

_HEAD = 2048
_CHANNEL_MAX = 8 << 20


class Worker:
    def __init__(self, cfg: dict) -> None:
        self.limits = Limits(**cfg["limits"])
        self.python = cfg["python"]
        self.slot = Slot({k: tuple(v) for k, v in cfg["cgroup"].items()}) if cfg.get("cgroup") else None
        self.uid = cfg.get("uid")
        self.report: dict[str, Any] = {"netns": False, "mountns": False, "readonly_root": False, "hidden": [],
                       "warnings": []}
        setup = None
        self.init: NamespaceInit | None = None
        self.userns = bool(cfg.get("userns")) and cfg["mode"] != "none"
        if self.userns:  # not root: uid 65534 of a user namespace of its own (isolation.py)
            iso.enter_user_namespace()
        if (cfg["root"] or self.userns) and cfg["mode"] != "none":
            # the harness package stays visible to this worker wherever it lives (lazy imports)
            paths = [*cfg["paths"], os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
            setup = iso.setup_worker(paths, readonly=True, keep_writable=cfg.get("cgroup_mounts", []),
                                     box_bytes=self.limits.tmp_mb << 20, userns=self.userns)
            self.report.update(netns=setup.netns, mountns=setup.mountns, readonly_root=setup.readonly_root,
                               hidden=setup.hidden, warnings=setup.warnings)
        if self.userns:
            self.init = NamespaceInit.start()  # PID 1 of the programs' namespace; mounts their /proc
            self.report.update(pidns=True, warnings=self.report["warnings"] + [
                "not root: no cgroups (memory capped by RLIMIT_AS, processes by RLIMIT_NPROC)"])
        # Where a run's working directory comes from: the worker's box (read-only root), a
        # per-run mount namespace with its own /tmp, or a fresh host temp dir (degraded).
        self.box = setup.box if setup else None
        per_run_ns = bool(setup and setup.mountns) and self.box is None
        self.host_base = None if self.box or per_run_ns else _fast_tmp()
        self.plan = iso.ChildPlan(
            uid=self.uid, gid=self.uid, private_tmp=per_run_ns, tmp_bytes=self.limits.tmp_mb << 20,
            cover=iso.covered_dirs(bool(setup and setup.readonly_root)) if per_run_ns else ())
        self.report["private_workdir"] = ("box" if self.box else "mount-namespace" if per_run_ns
                                          else "host-tempdir")
        # Fast spawn path: a read-only root with a box, and programs under their own uid (root:
        # the slot uid; unprivileged: the namespace's uid) - the usual case on Linux.
        self.fast = bool(self.box) and (self.uid is not None or self.userns)
        self.report["spawn"] = "launcher" if self.fast else "preexec"
        self.pids_baseline = 0
        if self.slot is not None:  # programs are born in the slot's cgroups, OOM-killed first
            self.slot.join(os.getpid())
            self.plan = iso.ChildPlan(**{**self.plan.__dict__, "oom_score_adj": 1000})
            self.pids_baseline = self.slot.pids_in_use()
        self.me = frozenset({os.getpid()})
        self.env = dict(iso.SAFE_ENV)
        if cfg.get("site"):  # appended to sys.path by the runners / LCB prelude (see runners.py)
            self.env[iso.SITE_ENV] = os.pathsep.join(cfg["site"])

    def _workdir(self, files: dict[str, bytes]) -> tuple[str, bool]:
        """(fresh working directory for one run, whether the worker must remove it after)."""
        if self.plan.private_tmp:
            return "/tmp", False
        if self.box:
            path = os.path.join(self.box, "w")
            if self.userns:  # same uid as the last program: a fresh box, nothing carried over
                iso.renew_box(self.limits.tmp_mb << 20)
            elif os.path.lexists(path):
                shutil.rmtree(path, ignore_errors=True)
            os.mkdir(path, 0o700)
        else:
            path = tempfile.mkdtemp(prefix="harness-sbx-run-", dir=self.host_base)
        if self.uid is not None:
            os.chown(path, self.uid, self.uid)
        iso.write_files(path, files, self.uid)
        return path, True

    # -- one process ---------------------------------------------------------------------------
    def run_one(self, run: Run, files: dict[str, bytes], timeout: float) -> RunResult:
        lim = self.limits
        nonce = secrets.token_hex(16)
        stdin = run.stdin
        fds: dict[str, int] = {}
        workdir, cleanup = None, False
        try:
            # The run's files have no path (memfd): no other process, a program under the
            # worker's own uid included, can open them by name (the channel nonce is in stdin).
            for name in ("stdin", "stdout", "stderr", "channel"):
                fds[name] = os.memfd_create(f"run-{name}")
            if run.channel:
                stdin = f"{nonce} {fds['channel']}\n".encode() + stdin
            _write_all(fds["stdin"], stdin)
            os.lseek(fds["stdin"], 0, os.SEEK_SET)
            workdir, cleanup = self._workdir(files)
            env = {**self.env, "HOME": workdir, "TMPDIR": workdir}
            rlims = iso.rlimits(timeout, lim.memory_mb << 20, lim.max_procs, lim.max_output_bytes,
                                lim.max_open_files)
            common: dict[str, Any] = dict(stdin=fds["stdin"], stdout=fds["stdout"], stderr=fds["stderr"],
                                          pass_fds=(fds["channel"],), env=env, close_fds=True)
            spawn: dict[str, Any]
            if self.fast:
                # No Python pre-exec step (it would cost a fork of this process plus ~1 ms of
                # copy-on-write faults per run): session, uid/gid and cwd are set by the C code
                # of subprocess; the rlimits by iso.LAUNCHER before any program code runs.
                argv = [self.python, "-S", "-c", iso.LAUNCHER,
                        iso.launcher_limits(rlims, self.slot is not None), *run.argv]
                spawn = dict(common, cwd=workdir, start_new_session=True)
                if self.uid is not None:
                    spawn.update(user=self.uid, group=self.uid, extra_groups=[])
            else:
                argv = [self.python, "-S", *run.argv]
                spawn = dict(common, preexec_fn=iso.make_preexec(self.plan, workdir, {} if cleanup else files,
                                                                 rlims))
            oom_before = self.slot.oom_kills() if self.slot else 0
            start = time.monotonic()
            try:
                proc = subprocess.Popen(argv, **spawn)
            except (OSError, subprocess.SubprocessError) as exc:
                err = _read(fds["stderr"], 0, _HEAD).decode("utf-8", "replace").strip()
                return RunResult(status="error", detail=f"could not start the program: {exc} {err}".strip())
            timed_out = self._wait(proc, timeout)
            wall = time.monotonic() - start
            returncode = proc.returncode
            oom = self.slot is not None and self.slot.oom_kills() > oom_before
            return self._result(run, fds, nonce, returncode, timed_out, oom, wall)
        finally:
            for fd in fds.values():
                os.close(fd)
            if cleanup and workdir:
                shutil.rmtree(workdir, ignore_errors=True)

    def _wait(self, proc: subprocess.Popen, timeout: float) -> bool:
        """Wait up to `timeout`; kill the process group (before reaping, so the id is still
        ours) and every process left in the slot. Returns whether the run timed out."""
        timed_out = False
        try:
            pidfd = os.pidfd_open(proc.pid)
        except OSError:
            pidfd = None
        if pidfd is not None:
            try:
                timed_out = not select.select([pidfd], [], [], timeout)[0]
            finally:
                os.close(pidfd)
            if not timed_out:
                os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        else:  # pragma: no cover - kernels before 5.3
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
        proc.wait()
        self._sweep()
        self._reap()
        return timed_out

    def _sweep(self) -> None:
        """Kill every process left of this slot's programs (setsid() escapees included)."""
        if self.slot is not None:
            self.slot.kill_all(exclude=self.me)
        elif self.init is not None:
            self.init.sweep()
        elif self.uid is not None:
            iso.kill_uid(self.uid)

    def shutdown(self) -> None:
        """Kill every program of this slot and exit (end of work, or the parent is gone)."""
        self._sweep()
        if self.init is not None:
            self.init.stop()
        os._exit(0)

    def _reap(self, limit: float = 2.0) -> None:
        """Reap the zombies of killed descendants (this worker is their subreaper), so that
        none is left behind and the slot's pids count drops back to zero."""
        deadline = time.monotonic() + limit
        while True:
            try:
                while os.waitpid(-1, os.WNOHANG)[0] > 0:
                    pass
            except ChildProcessError:
                pass
            if (self.slot is None or self.slot.pids_in_use() <= self.pids_baseline
                    or time.monotonic() > deadline):
                return
            time.sleep(0.001)

    def _result(self, run: Run, fds: dict[str, int], nonce: str, returncode: int, timed_out: bool,
                oom: bool, wall: float) -> RunResult:
        lim = self.limits
        out_size = os.fstat(fds["stdout"]).st_size
        err_size = os.fstat(fds["stderr"]).st_size
        stdout = _read(fds["stdout"], 0, lim.max_output_bytes).decode("utf-8", "replace")
        stderr_tail = _read(fds["stderr"], max(0, err_size - _HEAD), _HEAD).decode("utf-8", "replace")
        records = []
        if run.channel:
            raw = _read(fds["channel"], 0, _CHANNEL_MAX)
            for line in raw.decode("utf-8", "replace").split("\n"):
                if line.startswith(nonce):
                    try:  # written by sandboxed code: parse as plain literals only
                        record = ast.literal_eval(line[len(nonce):])
                    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                        continue
                    if isinstance(record, dict):
                        records.append(record)
        if "[sandbox] setup failed" in stderr_tail:
            return RunResult(status="error", returncode=returncode, wall_s=wall, stderr_tail=stderr_tail,
                             detail=stderr_tail.strip().splitlines()[-1])
        memory_error = any(r.get("error") == "MemoryError" for r in records) or (
            returncode != 0 and "MemoryError" in stderr_tail)
        status: RunStatus
        if oom or (memory_error and not timed_out):
            status, detail = "memory", "out of memory" + (" (cgroup OOM kill)" if oom else "")
        elif timed_out or returncode == -signal.SIGXCPU:
            status, detail = "timeout", f"exceeded {'the CPU limit' if not timed_out else 'the time limit'}"
        elif max(out_size, err_size) >= lim.max_output_bytes:
            status, detail = "output_limit", f"output exceeded {lim.max_output_bytes} bytes"
        elif returncode == 0:
            status, detail = "ok", ""
        else:
            status = "failed"
            last = stderr_tail.strip().splitlines()[-1:] or [""]
            detail = (f"killed by signal {-returncode}" if returncode < 0 else f"exit code {returncode}") + \
                (f": {last[0][:200]}" if last[0] else "")
        passed, reason = compare.judge(run.expect, status, stdout, records)
        if reason and status == "ok":
            detail = reason
        return RunResult(status=status, returncode=returncode, passed=passed, wall_s=wall,
                         stdout_digest=compare.stdout_digest(stdout) if status == "ok" else None,
                         stdout_head=stdout[:_HEAD], stderr_tail=stderr_tail, records=tuple(records),
                         detail=detail)

    # -- one job ---------------------------------------------------------------------------------
    def run_job(self, job: Job) -> JobResult:
        start = time.monotonic()
        for label, source in job.compile:
            try:
                compile(source, label, "exec")
            except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError) as exc:
                where = f" (line {exc.lineno})" if isinstance(exc, SyntaxError) and exc.lineno else ""
                return JobResult(compile_error=f"{type(exc).__name__}: {getattr(exc, 'msg', exc)}{where}",
                                 wall_s=time.monotonic() - start)
        files = {name: text.encode("utf-8") for name, text in job.files.items()}
        backstop = min(job.backstop_s or self.limits.backstop_s, self.limits.backstop_s)
        deadline = start + backstop
        results: list[RunResult] = []
        failed = timed_out = False
        for run in job.runs:
            if failed and not run.always or timed_out:
                results.append(RunResult(status="skipped", detail="after a timeout" if timed_out else ""))
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                results.append(RunResult(status="timeout", detail="overall time limit of the job reached"))
                failed = failed or (job.stop_on_failure and run.expect is not None)
                continue
            result = self.run_one(run, files, min(run.timeout_s or self.limits.timeout_s, remaining))
            if result.status == "error":
                return JobResult(runs=tuple(results + [result]), error=f"sandbox failure: {result.detail}",
                                 wall_s=time.monotonic() - start)
            results.append(result)
            timed_out = job.stop_after_timeout and result.status == "timeout"
            if job.stop_on_failure and run.expect is not None and not result.passed:
                failed = True
        return JobResult(runs=tuple(results), wall_s=time.monotonic() - start)


def _fast_tmp() -> str | None:
    """A tmpfs for host temp dirs when /dev/shm is usable (disk-backed /tmp can be slow)."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read(fd: int, offset: int, size: int) -> bytes:
    chunks, total = [], 0
    while total < size:
        chunk = os.pread(fd, min(size - total, 1 << 20), offset + total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def main() -> None:
    conn = Connection(int(sys.argv[1]))
    try:
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the parent
        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)  # orphans of a run come back to us to be reaped
        cfg = conn.recv()
        worker = Worker(cfg)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        try:
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        finally:
            return
    # If the parent dies, SIGTERM (the parent-death signal set below) takes every program of
    # this slot down with the worker; a plain SIGKILL of the worker is swept by the parent.
    signal.signal(signal.SIGTERM, lambda signum, frame: worker.shutdown())
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:
        worker.shutdown()
    conn.send(("ready", worker.report))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break
        if message is None:
            break
        index, job = message
        try:
            result = worker.run_job(job)
        except Exception as exc:  # noqa: BLE001 - a worker bug is a grader error, never a verdict
            result = JobResult(error=f"sandbox worker error: {type(exc).__name__}: {exc}")
        conn.send((index, result))
    worker.shutdown()


if __name__ == "__main__":
    main()
