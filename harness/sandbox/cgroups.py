"""Per-worker cgroups (pids + memory) for the sandbox, cgroup v1 first, v2 where delegated.

Each executor slot gets its own cgroup under the cgroup this process already lives in (so the
host's limits on us still apply): `<controller mount>/<our path>/harness-sbx-<tag>-<slot>`.
The slot's worker process joins its cgroups once at start-up, so every program it starts is
born inside them (joining per program would cost an RCU grace period, milliseconds, each time);
its programs get oom_score_adj +1000, so the OOM killer takes them, not the worker. This gives

  - pids.max: a fork bomb stops at the limit, whatever the uid;
  - memory limit: the whole process tree of a job shares one memory budget (RLIMIT_AS is per
    process), and an OOM kill is visible in the cgroup's oom counter (-> verdict MLE);
  - a complete, race-free list of the job's processes (cgroup.procs): after every run all of
    them are killed, including ones that escaped the process group with setsid().
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

from harness.sandbox.linux import write_text

CONTROLLERS = ("pids", "memory")


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, fs type, super options) of every cgroup mount."""
    out = []
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            left, _, right = line.partition(" - ")
            fields, rest = left.split(), right.split()
            if len(fields) < 5 or len(rest) < 3 or rest[0] not in ("cgroup", "cgroup2"):
                continue
            out.append((fields[4].replace("\\040", " "), rest[0], set(rest[2].split(","))))
    return out


def controller_dirs() -> dict[str, tuple[str, int]]:
    """controller -> (our cgroup directory, cgroup version) for pids and memory, where mounted."""
    ours: dict[str, str] = {}
    unified = None
    with open("/proc/self/cgroup", encoding="utf-8") as handle:
        for line in handle:
            hid, ctrls, path = line.rstrip("\n").split(":", 2)
            if hid == "0" and ctrls == "":
                unified = path
            for ctrl in ctrls.split(","):
                ours[ctrl] = path
    found: dict[str, tuple[str, int]] = {}
    mounts = _mounts()
    for ctrl in CONTROLLERS:
        for mountpoint, fstype, opts in mounts:
            if fstype == "cgroup" and ctrl in opts and ctrl in ours:
                found[ctrl] = (os.path.join(mountpoint, ours[ctrl].lstrip("/")), 1)
                break
    if unified is not None and len(found) < len(CONTROLLERS):
        for mountpoint, fstype, _ in mounts:
            if fstype != "cgroup2":
                continue
            base = os.path.join(mountpoint, unified.lstrip("/"))
            try:
                with open(os.path.join(base, "cgroup.controllers"), encoding="utf-8") as handle:
                    available = set(handle.read().split())
            except OSError:
                continue
            for ctrl in CONTROLLERS:
                if ctrl not in found and ctrl in available:
                    found[ctrl] = (base, 2)
    return found


@dataclass
class Slot:
    """The cgroups of one executor slot. `dirs` maps controller -> (directory, version)."""

    dirs: dict[str, tuple[str, int]]

    @property
    def procs_files(self) -> list[str]:
        return [os.path.join(d, "cgroup.procs") for d, _ in dict.fromkeys(self.dirs.values())]

    def join(self, pid: int) -> None:
        for path in self.procs_files:
            write_text(path, str(pid))

    def pids(self) -> list[int]:
        out: set[int] = set()
        for path in self.procs_files:
            try:
                with open(path, encoding="utf-8") as handle:
                    out.update(int(x) for x in handle.read().split())
            except OSError:
                pass
        return sorted(out)

    def kill_all(self, timeout: float = 5.0, exclude: frozenset[int] = frozenset()) -> int:
        """SIGKILL every process in the slot (but `exclude`) until none is left; returns how
        many were killed."""
        killed, deadline = 0, time.monotonic() + timeout
        while True:
            pids = [pid for pid in self.pids() if pid not in exclude]
            if not pids:
                return killed
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                return killed
            time.sleep(0.002)

    def pids_in_use(self) -> int:
        """Tasks still charged to the slot (zombies included); 0 when it cannot be read."""
        if "pids" not in self.dirs:
            return 0
        try:
            with open(os.path.join(self.dirs["pids"][0], "pids.current"), encoding="utf-8") as handle:
                return int(handle.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def oom_kills(self) -> int:
        if "memory" not in self.dirs:
            return 0
        directory, version = self.dirs["memory"]
        name = "memory.oom_control" if version == 1 else "memory.events"
        try:
            with open(os.path.join(directory, name), encoding="utf-8") as handle:
                for line in handle:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except OSError:
            pass
        return 0

    def remove(self) -> None:
        self.kill_all(timeout=2.0)
        for directory, _ in dict.fromkeys(self.dirs.values()):
            try:
                os.rmdir(directory)
            except OSError:
                pass


def create_slots(tag: str, count: int, pids_max: int, memory_bytes: int) -> tuple[list[Slot], list[str]]:
    """One Slot per worker; the list is empty (with the reasons) where cgroups are not writable."""
    warnings: list[str] = []
    bases = controller_dirs()
    for ctrl in CONTROLLERS:
        if ctrl not in bases:
            warnings.append(f"cgroup controller {ctrl!r} is not mounted for this process")
    _remove_stale(bases)
    slots: list[Slot] = []
    for index in range(count):
        dirs: dict[str, tuple[str, int]] = {}
        for ctrl, (base, version) in bases.items():
            directory = os.path.join(base, f"harness-sbx-{tag}-{index}")
            try:
                os.makedirs(directory, exist_ok=True)
                _configure(ctrl, directory, version, pids_max, memory_bytes)
                dirs[ctrl] = (directory, version)
            except OSError as exc:
                if index == 0:
                    warnings.append(f"cgroup {ctrl} not usable at {base}: {exc}")
                try:
                    os.rmdir(directory)
                except OSError:
                    pass
        if not dirs:
            for slot in slots:
                slot.remove()
            return [], warnings
        slots.append(Slot(dirs))
    return slots, warnings


def _remove_stale(bases: dict[str, tuple[str, int]]) -> None:
    """Slots left behind by an executor whose process is gone: kill what is left, remove them."""
    for base, version in set(bases.values()):
        try:
            names = [n for n in os.listdir(base) if n.startswith("harness-sbx-")]
        except OSError:
            continue
        for name in names:
            owner = name[len("harness-sbx-"):].split("-", 1)[0]
            if owner.isdigit() and not os.path.exists(f"/proc/{owner}"):
                Slot({"stale": (os.path.join(base, name), version)}).remove()


def _configure(ctrl: str, directory: str, version: int, pids_max: int, memory_bytes: int) -> None:
    if ctrl == "pids":
        write_text(os.path.join(directory, "pids.max"), str(pids_max))
    elif version == 1:
        write_text(os.path.join(directory, "memory.limit_in_bytes"), str(memory_bytes))
        memsw = os.path.join(directory, "memory.memsw.limit_in_bytes")
        if os.path.exists(memsw):
            try:
                write_text(memsw, str(memory_bytes))
            except OSError:
                pass  # swap accounting off: the plain limit still holds
    else:
        write_text(os.path.join(directory, "memory.max"), str(memory_bytes))
        swap = os.path.join(directory, "memory.swap.max")
        if os.path.exists(swap):
            write_text(swap, "0")


def mount_point_of(path: str) -> str:
    """The mount point of the mount holding `path` (longest matching prefix in mountinfo)."""
    best = "/"
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            point = line.split()[4].replace("\\040", " ")
            if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
                best = point
    return best
