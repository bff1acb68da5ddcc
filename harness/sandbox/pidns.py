"""The init process of an unprivileged worker's PID namespace (see isolation.enter_user_namespace).

After unshare(CLONE_NEWPID) the worker's first child becomes PID 1 of the new namespace; every
later program the worker starts lives there too. This init does three jobs:
- it keeps the namespace alive (when PID 1 exits, the kernel kills everything in it, and no new
  process can be started there): it dies with the worker (parent-death signal), so no program
  outlives its slot;
- it mounts a /proc of the namespace, so programs see only their own processes (not the
  caller's, whose /proc/<pid>/environ would otherwise be readable by the same host uid);
- it sweeps: on request, kill(-1) from PID 1 reaches every process of the namespace except
  itself (setsid() escapees and daemons included), and it reaps the orphans.
Programs cannot signal it: PID 1 gets only the signals it has handlers for, and it has none.
"""

from __future__ import annotations

import os
import select
import signal

from harness.sandbox import linux

_SWEEP, _DONE = b"k", b"k"


class NamespaceInit:
    def __init__(self, pid: int, request: int, reply: int) -> None:
        self.pid, self._request, self._reply = pid, request, reply

    @classmethod
    def start(cls, timeout_s: float = 10.0) -> "NamespaceInit":
        """Fork the init (the worker must have unshared CLONE_NEWPID); wait until /proc is mounted."""
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            os.close(req_w)
            os.close(rep_r)
            _init_main(req_r, rep_w)
        os.close(req_r)
        os.close(rep_w)
        init = cls(pid, req_w, rep_r)
        answer = init._answer(timeout_s)
        if answer != b"ready":
            init.stop()
            raise OSError(f"PID namespace init failed: {answer.decode(errors='replace') or 'no answer'}")
        return init

    def _answer(self, timeout_s: float) -> bytes:
        if not select.select([self._reply], [], [], timeout_s)[0]:
            return b""
        return os.read(self._reply, 512)

    def sweep(self, timeout_s: float = 5.0) -> bool:
        """Kill every process of the namespace but the init; True once the init confirms."""
        try:
            os.write(self._request, _SWEEP)
        except OSError:
            return False
        return self._answer(timeout_s) == _DONE

    def stop(self) -> None:
        """End the namespace: SIGKILL to its init takes every process in it down."""
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (OSError, ChildProcessError):
            pass
        for fd in (self._request, self._reply):
            try:
                os.close(fd)
            except OSError:
                pass


def _init_main(request: int, reply: int) -> None:  # pragma: no cover - runs in the child
    code = 0
    try:
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)  # no handlers: nothing inside can signal PID 1
        if os.getpid() != 1:
            raise OSError(f"not the init of a new PID namespace (pid {os.getpid()}, parent {os.getppid()})")
        linux.mount("proc", "/proc", "proc", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
        os.write(reply, b"ready")
        while True:
            ready = select.select([request], [], [], 0.5)[0]
            _reap()
            if not ready:
                continue
            if not os.read(request, 64):
                break  # the worker is gone
            _kill_all()
            os.write(reply, _DONE)
    except BaseException as exc:  # noqa: BLE001 - told to the worker, then exit
        try:
            os.write(reply, f"{type(exc).__name__}: {exc}".encode())
        except OSError:
            pass
        code = 1
    os._exit(code)


def _kill_all() -> None:  # pragma: no cover - runs in the child
    # After the first kill(-1) everything is dying; the blocking reap returns once none of
    # our children is left. A second round catches a fork that raced the first signal; a
    # zombie that is the worker's own child still counts for kill(-1), hence the fixed rounds.
    for _ in range(3):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            return  # nobody left but the init
        _reap(block=True)


def _reap(block: bool = False) -> None:  # pragma: no cover - runs in the child
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
