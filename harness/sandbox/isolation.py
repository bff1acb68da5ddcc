"""How untrusted programs are isolated: worker namespace setup and the per-process pre-exec step.

Layers, each used when the host offers it (the executor records which were in force):

  worker process (once, as root)   unshare(mount + network namespace): the network namespace
                                   has only a loopback device that is down, so no connection
                                   of any kind (not even to 127.0.0.1) can be made; the mount
                                   namespace is made private, the interpreter's install tree is
                                   re-exposed if it sits under a directory others cannot enter
                                   (e.g. /root/.pyenv: an empty tmpfs hides the rest of /root),
                                   and every mount is made read-only (mount_setattr, recursive).
  each program (pre-exec, root)    new session/process group, born in the slot's cgroups (pids,
                                   memory: the worker joined them); a fresh working directory
                                   of its own in the worker's size-capped tmpfs (the only
                                   writable place; without a read-only root: its own mount
                                   namespace with a fresh tmpfs on /tmp instead); rlimits CPU,
                                   AS, NPROC, FSIZE, NOFILE, CORE=0; drops to the slot's own
                                   unprivileged uid/gid (no supplementary groups); no_new_privs,
                                   parent-death signal SIGKILL, oom_score_adj +1000.
  environment                      scrubbed: only PATH, HOME, LANG and fixed PYTHON* settings.

Each executor slot runs as its own uid (not the shared `nobody`): a program's kill(-1), fork
bomb or RLIMIT_NPROC count then reaches only its own slot, never a concurrent job or the host.
Without root: rlimits + process group + scrubbed env + a private temp dir; if user namespaces
are allowed, also a network namespace (a warning says what is missing).
"""

from __future__ import annotations

import os
import resource
import signal
import stat
import sys
from dataclasses import dataclass, field
from typing import Callable

from harness.sandbox import linux

# World-writable places on a typical Linux host; covered by the private /tmp when the
# read-only root could not be set up.
WORLD_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock", "/dev/mqueue")

# Programs run with `python -S` (no site.py: its .pth hooks cost tens of milliseconds per
# start here). The interpreter's site-packages are named in this variable instead, and the
# runners and the LCB prelude append them to the END of sys.path (PYTHONPATH would put them
# first and slow every stdlib import down).
SITE_ENV = "HARNESS_SANDBOX_SITE"

SAFE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONHASHSEED": "0",  # deterministic set/dict iteration: behaviour clusters must be stable
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONIOENCODING": "utf-8",
    "PYTHONINTMAXSTRDIGITS": "0",  # LCB answers can be huge integers; 3.11 caps str(int) at 4300 digits
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


@dataclass(frozen=True)
class ChildPlan:
    """Everything the pre-exec step of one sandboxed process does (picklable, built per worker)."""

    uid: int | None  # drop to this uid/gid (root only); None = keep
    gid: int | None
    private_tmp: bool  # fallback without a read-only root: own mount namespace + tmpfs on /tmp
    tmp_bytes: int
    cover: tuple[str, ...] = ()  # other world-writable dirs to hide under the private /tmp
    userns_net: bool = False  # unprivileged fallback: user + network namespace
    oom_score_adj: int | None = None  # the program is the OOM killer's first choice in its cgroup


def rlimits(timeout_s: float, memory_bytes: int, max_procs: int, max_output: int, max_files: int) -> tuple:
    cpu = int(timeout_s) + 1
    return ((resource.RLIMIT_CPU, cpu), (resource.RLIMIT_AS, memory_bytes),
            (resource.RLIMIT_NPROC, max_procs), (resource.RLIMIT_FSIZE, max_output),
            (resource.RLIMIT_NOFILE, max_files), (resource.RLIMIT_CORE, 0))


# Runs first in every program's interpreter (python -S -c LAUNCHER <limits> <script> [args]):
# sets the rlimits (soft = hard: the program cannot raise them) and oom_score_adj, then runs
# the script as __main__ exactly like `python <script>` would. Nothing of the program has run
# before the limits are in force.
LAUNCHER = """\
import resource as _r, sys as _s
for _k, _v in zip(("CPU", "AS", "NPROC", "FSIZE", "NOFILE", "CORE"), _s.argv[1].split(",")[:6]):
    _r.setrlimit(getattr(_r, "RLIMIT_" + _k), (int(_v), int(_v)))
if _s.argv[1].endswith(",oom"):
    try:
        with open("/proc/self/oom_score_adj", "w") as _h:
            _h.write("1000")
    except OSError:
        pass
_s.argv = _s.argv[2:]
with open(_s.argv[0], "rb") as _h:
    _c = _h.read()
__file__ = _s.argv[0]
del _r, _s, _k, _v, _h
exec(_c)
"""
# exec(bytes), not exec(compile(...)): the builtin compile() builds the whole _ast type table
# on first use (~1.5 ms per process). The price: tracebacks name the file "<string>".


def launcher_limits(rlims: tuple, oom: bool) -> str:
    order = (resource.RLIMIT_CPU, resource.RLIMIT_AS, resource.RLIMIT_NPROC, resource.RLIMIT_FSIZE,
             resource.RLIMIT_NOFILE, resource.RLIMIT_CORE)
    values = dict(rlims)
    return ",".join(str(values[k]) for k in order) + (",oom" if oom else "")


def make_preexec(plan: ChildPlan, workdir: str, files: dict[str, bytes], rlims: tuple) -> Callable[[], None]:
    """The function Popen runs in the child between fork and exec.

    `files` are written here only with a per-run private /tmp (plan.private_tmp, then workdir
    is /tmp); otherwise the worker has written them into `workdir` already. On failure it
    writes the failing step to fd 2 (the run's stderr file) and raises, so the run is reported
    as a sandbox error (never as a wrong answer).
    """

    def step_failed(step: str, exc: BaseException) -> None:
        try:
            os.write(2, f"\n[sandbox] setup failed at {step}: {exc}\n".encode())
        except OSError:
            pass
        raise RuntimeError(step)

    def preexec() -> None:
        step = "setsid"
        try:
            os.setsid()
            if plan.oom_score_adj is not None:
                step = "oom_score_adj"
                linux.write_text("/proc/self/oom_score_adj", str(plan.oom_score_adj))
            if plan.userns_net:
                step = "user+network namespace"
                uid, gid = os.getuid(), os.getgid()
                linux.unshare(linux.CLONE_NEWUSER | linux.CLONE_NEWNET)
                linux.write_text("/proc/self/setgroups", "deny")
                linux.write_text("/proc/self/uid_map", f"{uid} {uid} 1")
                linux.write_text("/proc/self/gid_map", f"{gid} {gid} 1")
            if plan.private_tmp:
                step = "private /tmp"
                linux.unshare(linux.CLONE_NEWNS)
                linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)  # never propagate to the host
                owner = f",uid={plan.uid},gid={plan.gid}" if plan.uid is not None else ""
                linux.mount("tmpfs", "/tmp", "tmpfs", linux.MS_NOSUID | linux.MS_NODEV,
                            f"size={plan.tmp_bytes},mode=0700{owner}")
                for path in plan.cover:
                    linux.mount("/tmp", path, None, linux.MS_BIND)
                step = "write program files"
                write_files(workdir, files, plan.uid)
            step = "chdir"
            os.chdir(workdir)
            step = "rlimits"
            for which, value in rlims:
                resource.setrlimit(which, (value, value))
            if plan.uid is not None:
                step = "drop privileges"
                assert plan.gid is not None  # ChildPlan sets uid and gid together
                os.setgroups([])
                os.setresgid(plan.gid, plan.gid, plan.gid)
                os.setresuid(plan.uid, plan.uid, plan.uid)
            step = "prctl"
            linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
            linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)  # after setuid: a uid change clears it
        except BaseException as exc:  # noqa: BLE001 - reported through the stderr file
            step_failed(step, exc)

    return preexec


def write_files(workdir: str, files: dict[str, bytes], uid: int | None) -> None:
    for name, data in files.items():
        path = os.path.join(workdir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        if uid is not None:
            os.chown(path, uid, uid)


@dataclass
class WorkerSetup:
    """What the worker process managed to set up for itself (see setup_worker)."""

    netns: bool = False
    mountns: bool = False
    readonly_root: bool = False
    exposed: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    io_dir: str | None = None  # the worker's own files (stdin/stdout of runs): root only
    box: str | None = None  # with a read-only root: the programs' tmpfs (one fresh dir per run)


def _blocking_ancestor(path: str) -> str | None:
    """The highest directory above `path` that others cannot traverse (None if all can)."""
    parts = os.path.abspath(path).split(os.sep)[1:]
    current = ""
    for part in parts[:-1]:
        current += os.sep + part
        try:
            mode = os.stat(current).st_mode
        except OSError:
            return None
        if not mode & stat.S_IXOTH:
            return current
    return None


def _make_traversable_dirs(path: str) -> None:
    """Create `path` (on the fresh /tmp tmpfs) with every level traversable, none listable by others."""
    current = ""
    for part in os.path.abspath(path).split(os.sep)[1:]:
        current += os.sep + part
        if not os.path.isdir(current):
            os.mkdir(current, 0o711)


def setup_worker(interpreter_paths: list[str], readonly: bool, keep_writable: list[str],
                 box_bytes: int) -> WorkerSetup:
    """Run once in the (root) worker: private mount + network namespaces, read-only root."""
    report = WorkerSetup()
    try:
        linux.unshare(linux.CLONE_NEWNS | linux.CLONE_NEWNET)
        report.netns = report.mountns = True
    except OSError as exc:
        report.warnings.append(f"no mount/network namespace ({exc}): programs keep host network access")
        return report
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)

    # Interpreter trees under a directory that the sandbox uid cannot enter (/root/.pyenv):
    # hide that directory behind an empty tmpfs and bind only the trees back in.
    needed = sorted({os.path.realpath(p) for p in interpreter_paths if os.path.isdir(p)})
    needed = [p for p in needed if not any(p != q and p.startswith(q + os.sep) for q in needed)]
    blocked: dict[str, list[str]] = {}
    for path in needed:
        blocker = _blocking_ancestor(path)
        if blocker is not None:
            blocked.setdefault(blocker, []).append(path)
    for blocker, paths in blocked.items():
        fds = {p: os.open(p, os.O_PATH | os.O_DIRECTORY) for p in paths}
        try:
            linux.mount("tmpfs", blocker, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "size=1m,mode=0755")
            for path, fd in fds.items():
                os.makedirs(path, mode=0o755, exist_ok=True)
                linux.mount(f"/proc/self/fd/{fd}", path, None, linux.MS_BIND | linux.MS_REC)
                report.exposed.append(path)
            report.hidden.append(blocker)
        finally:
            for fd in fds.values():
                os.close(fd)
    if readonly:
        try:
            linux.mount_setattr("/", linux.MOUNT_ATTR_RDONLY | linux.MOUNT_ATTR_NOSUID, recursive=True)
            # /proc stays writable (permissions still apply: a program can only raise its own
            # oom_score_adj); the slot cgroups: the worker joins them, then its programs are born there
            for path in ["/proc", *keep_writable]:
                linux.mount_setattr(path, 0, linux.MOUNT_ATTR_RDONLY)
            report.readonly_root = True
        except OSError as exc:
            report.warnings.append(f"read-only root not available ({exc}); world-writable dirs are "
                                   "covered by the private /tmp instead")
    # The worker's scratch tmpfs on /tmp: /tmp/io (root only) for the runs' stdin/stdout files,
    # and with a read-only root /tmp/box, a size-capped tmpfs in which each run gets a fresh
    # directory of its own uid (0700) - the only place a program can write. /tmp itself and
    # /tmp/box are 0711: traversable, not listable, not writable.
    flags = linux.MS_NOSUID | linux.MS_NODEV
    # An interpreter that lives under /tmp (a CI clone's .venv, say) would vanish under the new
    # tmpfs: hold it open, mount, then bind it back in (read-only like everything else).
    under_tmp = [p for p in needed if p == "/tmp" or p.startswith("/tmp/")]
    kept = {p: os.open(p, os.O_PATH | os.O_DIRECTORY) for p in under_tmp}
    linux.mount("tmpfs", "/tmp", "tmpfs", flags,
                f"size={4 << 30},mode={'0711' if report.readonly_root else '0700'}")
    try:
        for path, fd in kept.items():
            _make_traversable_dirs(path)
            linux.mount(f"/proc/self/fd/{fd}", path, None, linux.MS_BIND | linux.MS_REC)
            if report.readonly_root:
                linux.mount_setattr(path, linux.MOUNT_ATTR_RDONLY | linux.MOUNT_ATTR_NOSUID, recursive=True)
            report.exposed.append(path)
    finally:
        for fd in kept.values():
            os.close(fd)
    os.mkdir("/tmp/io", 0o700)
    report.io_dir = "/tmp/io"
    if report.readonly_root:
        os.mkdir("/tmp/box", 0o711)
        linux.mount("tmpfs", "/tmp/box", "tmpfs", flags | linux.MS_NOEXEC, f"size={box_bytes},mode=0711")
        report.box = "/tmp/box"
    os.chdir("/")
    return report


def covered_dirs(readonly_root: bool) -> tuple[str, ...]:
    if readonly_root:
        return ()
    out = []
    for path in WORLD_WRITABLE[1:]:
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_IWOTH and not os.path.islink(path):
            out.append(path)
    return tuple(out)


def userns_available() -> bool:
    """Can this (unprivileged) process create a user + network namespace? Tested in a child."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            linux.unshare(linux.CLONE_NEWUSER | linux.CLONE_NEWNET)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def kill_uid(uid: int) -> int:
    """SIGKILL every process whose real uid is `uid` (cleanup when no cgroup is available)."""
    killed = 0
    for _ in range(50):
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    found.append(int(entry))
            except OSError:
                continue
        if not found:
            break
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
    return killed


def interpreter_paths(python: str) -> tuple[list[str], list[str]]:
    """(directories the sandbox interpreter needs, its site-packages directories), asked from
    the interpreter itself (see SITE_ENV)."""
    import json
    import subprocess

    code = ("import json, sys, sysconfig; p = sysconfig.get_paths(); "
            "print(json.dumps([[sys.prefix, sys.base_prefix, sys.exec_prefix, p.get('stdlib'), "
            "p.get('platstdlib'), p.get('purelib'), p.get('platlib')], "
            "[p.get('purelib'), p.get('platlib')]]))")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60,
                         env=dict(SAFE_ENV), check=True)
    tree, site = json.loads(out.stdout)
    tree = [p for p in tree if p] + [os.path.dirname(os.path.realpath(python))]
    return tree, list(dict.fromkeys(p for p in site if p and os.path.isdir(p)))


def is_root() -> bool:
    return os.geteuid() == 0 and sys.platform.startswith("linux")
