"""How untrusted programs are isolated: worker namespace setup and the per-process pre-exec step.

Layers, each used when the host offers it (the executor records which were in force):

  worker process (once)            as root, or as uid 65534 of its own user namespace when not
                                   root (enter_user_namespace: new user, PID and IPC namespaces;
                                   pidns.NamespaceInit is the PID namespace's init). Then
                                   unshare(mount + network namespace): the network namespace
                                   has only a loopback device that is down, so no connection
                                   of any kind (not even to 127.0.0.1) can be made; the mount
                                   namespace is made private; every top-level directory but
                                   the system's (SYSTEM_DIRS: homes, /work, /data, /opt, /var
                                   ...) and the world-writable ones are covered by empty tmpfs,
                                   the interpreter's install tree re-exposed wherever it lives
                                   (/root/.pyenv, a venv under /var/tmp or /tmp); every mount is
                                   made read-only (mount_setattr, recursive).
  each program (pre-exec, root)    new session/process group, born in the slot's cgroups (pids,
                                   memory: the worker joined them); a fresh working directory
                                   of its own in the worker's size-capped tmpfs (the only
                                   writable place; without a read-only root: its own mount
                                   namespace with a fresh tmpfs on /tmp instead); rlimits CPU,
                                   AS, NPROC, FSIZE, NOFILE, CORE=0; drops to the slot's own
                                   unprivileged uid/gid (no supplementary groups); no_new_privs,
                                   parent-death signal SIGKILL, oom_score_adj +1000.
  environment                      scrubbed: only PATH, HOME, LANG and fixed PYTHON* settings.

As root each executor slot runs as its own uid (not the shared `nobody`): a program's kill(-1),
fork bomb or RLIMIT_NPROC count then reaches only its own slot, never a concurrent job or the
host. Without root each slot is its own set of namespaces instead: kill(-1) reaches only the
slot's own PID namespace, the caller's home is not there, the root is read-only, and the box
is mounted afresh for every run (programs share the worker's uid, so nothing may carry over).
No cgroups then: memory is capped by RLIMIT_AS, processes by RLIMIT_NPROC. With neither root
nor user namespaces there is no isolation at all, and the executor refuses to run unless asked
explicitly (isolation="none").
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


def _mask(target: str, keep: list[str], mode: str, size: str = "1m") -> list[str]:
    """Cover `target` with an empty tmpfs, then bind the `keep` paths below it back in place.

    Returns the paths bound back. A target that is itself a kept path (or inside one) is left
    alone: hiding it would hide the interpreter.
    """
    if any(target == p or target.startswith(p + os.sep) for p in keep):
        return []
    inside = [p for p in keep if p.startswith(target + os.sep)]
    fds = {p: os.open(p, os.O_PATH | os.O_DIRECTORY) for p in inside}
    try:
        linux.mount("tmpfs", target, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, f"size={size},mode={mode}")
        for path, fd in fds.items():
            _make_traversable_dirs(path)
            linux.mount(f"/proc/self/fd/{fd}", path, None, linux.MS_BIND | linux.MS_REC)
    finally:
        for fd in fds.values():
            os.close(fd)
    return inside


# What a program sees of the host's root: the system (binaries, libraries, /etc), /dev, /proc,
# /sys, its own /tmp. Every other top-level directory (homes, /work, /data, /opt, /var, /mnt,
# ...) is covered by an empty tmpfs, with the interpreter's tree bound back in wherever it lives:
# a program reads neither the researcher's files nor the benchmark's hidden tests on disk.
SYSTEM_DIRS = frozenset({"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "dev", "proc",
                         "sys", "tmp"})


def private_dirs() -> list[str]:
    """Directories the sandbox hides: the top-level ones outside SYSTEM_DIRS and the
    world-writable places inside them (/dev/shm, /dev/mqueue)."""
    out = []
    for entry in sorted(os.listdir("/")):
        path = "/" + entry
        if entry in SYSTEM_DIRS or os.path.islink(path) or not os.path.isdir(path):
            continue
        out.append(path)
    for path in covered_dirs(False):
        if not any(path == q or path.startswith(q + os.sep) for q in out):
            out.append(path)
    return out


def setup_worker(interpreter_paths: list[str], readonly: bool, keep_writable: list[str],
                 box_bytes: int, userns: bool = False) -> WorkerSetup:
    """Run once in the worker (root, or root of its own user namespace): private mount and
    network namespaces, directories hidden, read-only root, the programs' box.

    private_dirs() are covered with an empty tmpfs (interpreter trees inside stay visible).
    userns: programs share the worker's uid, so the worker's own /tmp is made read-only and the
    box is mounted afresh for every run.
    """
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
    targets = private_dirs()
    for path in needed:
        blocker = _blocking_ancestor(path)
        if blocker is not None and not any(blocker == t or blocker.startswith(t + os.sep) for t in targets):
            targets.append(blocker)
    for target in targets:
        if any(target != t and target.startswith(t + os.sep) for t in targets):
            continue  # inside another target: covered with it
        report.exposed += _mask(target, needed, "0755")
        report.hidden.append(target)
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
    # The worker's scratch tmpfs on /tmp; with a read-only root /tmp/box, a size-capped tmpfs
    # in which each run gets a fresh directory of its own uid (0700) - the only place a program
    # can write. /tmp itself and /tmp/box are 0711: traversable, not listable, not writable.
    # An interpreter that lives under /tmp (a CI clone's .venv, say) is bound back in.
    report.exposed += _mask("/tmp", needed, "0711" if report.readonly_root else "0700", str(4 << 30))
    if report.readonly_root:
        for path in report.exposed:
            if path == "/tmp" or path.startswith("/tmp/"):
                linux.mount_setattr(path, linux.MOUNT_ATTR_RDONLY | linux.MOUNT_ATTR_NOSUID, recursive=True)
        os.mkdir("/tmp/box", 0o711)
        report.box = "/tmp/box"
        mount_box(box_bytes)
        if userns:  # same uid as the programs: nothing of the worker's may be writable to them
            linux.mount_setattr("/tmp", linux.MOUNT_ATTR_RDONLY)
    os.chdir("/")
    return report


def mount_box(box_bytes: int) -> None:
    """A fresh, empty tmpfs on /tmp/box (noexec: programs are run by the interpreter)."""
    linux.mount("tmpfs", "/tmp/box", "tmpfs", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC,
                f"size={box_bytes},mode=0711")


def renew_box(box_bytes: int) -> None:
    """Between two runs under one uid: drop the old box (whatever a program left there) for a new one."""
    linux.umount("/tmp/box")
    mount_box(box_bytes)


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
    """Can this (unprivileged) process create the namespaces of enter_user_namespace? Tested in a child."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            linux.unshare(USERNS_FLAGS)
            linux.unshare(linux.CLONE_NEWNS | linux.CLONE_NEWNET)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


# Without root, programs run as this uid/gid of the worker's own user namespace (the overflow
# id `nobody`); outside it they are still the caller's uid, so everything that could reach the
# caller's processes and files is taken away by namespaces: PID (cannot see or signal them),
# mount (home hidden, root read-only), network, IPC.
SANDBOX_ID = 65534
USERNS_FLAGS = linux.CLONE_NEWUSER | linux.CLONE_NEWPID | linux.CLONE_NEWIPC


def enter_user_namespace() -> None:
    """Unprivileged worker: become uid/gid SANDBOX_ID of a new user namespace, holding every
    capability in it until exec (enough to build the mount namespace), with new PID and IPC
    namespaces for the processes it starts from now on. Programs it starts lose the
    capabilities at exec (their uid is not 0)."""
    uid, gid = os.getuid(), os.getgid()
    linux.unshare(USERNS_FLAGS)
    linux.write_text("/proc/self/setgroups", "deny")
    linux.write_text("/proc/self/uid_map", f"{SANDBOX_ID} {uid} 1")
    linux.write_text("/proc/self/gid_map", f"{SANDBOX_ID} {gid} 1")


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
