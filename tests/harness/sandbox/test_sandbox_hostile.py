"""Hostile programs against the sandbox: each is contained, gets the right status/verdict, and the
host is intact afterwards (this process alive, nothing written outside, no stray processes).

Isolation the host does not offer (no root, no namespaces) turns the matching test into a skip
that names the missing mechanism; `Executor.isolation()` is the source of truth.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import uuid
from pathlib import Path

import pytest

from harness.grading.code_grader import CodeGrader
from harness.sandbox import Executor, Job, Limits, Run
from harness.types import Candidate, Problem, Reference

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox is Linux-only")

MARK = f"hxmark{uuid.uuid4().hex[:10]}"  # in every hostile run's argv: finds strays via /proc/*/cmdline
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def ex():
    # visible to the workers, not to programs
    os.environ["HARNESS_SECRET_TOKEN"] = "s3cr3t-" + uuid.uuid4().hex
    executor = Executor(workers=2, limits=Limits(timeout_s=2.0, memory_mb=512, max_output_bytes=1 << 20))
    executor.start()
    yield executor
    executor.close()
    assert _strays(executor) == [], "processes left behind after close()"
    os.environ.pop("HARNESS_SECRET_TOKEN", None)


def _job(code: str, stdin: bytes = b"", timeout: float | None = None) -> Job:
    return Job(files={"prog.py": code}, runs=(Run(argv=("prog.py", MARK), stdin=stdin, timeout_s=timeout),))


def _run(ex: Executor, code: str, **kw):
    result = ex.run([_job(code, **kw)])[0]
    assert result.error is None, result.error
    return result.runs[0]


def _strays(ex: Executor) -> list[int]:
    """Processes still alive that ran as a sandbox uid or carry this module's marker."""
    found = []
    uids = set(ex.uids)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read()
            owner = os.stat(f"/proc/{entry}").st_uid
            with open(f"/proc/{entry}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state != b"Z" and (MARK.encode() in cmdline or owner in uids):
            found.append(int(entry))
    return found


def _need(ex: Executor, key: str) -> None:
    iso = ex.isolation()
    if not iso.get(key):
        why = "; ".join(iso.get("warnings") or []) or "see isolation()"
        pytest.skip(f"this host does not offer {key} ({why})")


def test_isolation_report_is_explicit(ex):
    iso = ex.isolation()
    for key in ("process_group", "rlimits", "user", "network_namespace", "private_tmp", "readonly_root",
                "cgroups", "env", "warnings"):
        assert key in iso
    assert iso["start_error"] is None
    assert set(iso["rlimits"]) >= {"cpu_s", "as_mb", "nproc", "fsize_bytes", "nofile"}
    if os.geteuid() == 0:
        assert iso["user"].startswith("per-slot uid")


def test_fork_bomb_is_contained(ex):
    start = time.monotonic()
    run = _run(ex, "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n")
    assert run.status in ("timeout", "failed", "memory")
    assert time.monotonic() - start < 15
    assert _strays(ex) == []
    assert _run(ex, "print('alive')").stdout_head == "alive\n"  # the slot is usable again


def test_infinite_loop_times_out_and_is_killed(ex):
    start = time.monotonic()
    run = _run(ex, "while True:\n    pass\n", timeout=1.0)
    assert run.status == "timeout" and run.returncode == -9
    assert time.monotonic() - start < 8
    assert _strays(ex) == []


def test_children_are_killed_with_the_run(ex):
    code = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\n"
            "print('parent done')\n")
    run = _run(ex, code)
    assert run.status == "ok"
    assert _strays(ex) == []  # the setsid() grandchild escaped the process group, not the sweep


def test_memory_hog_is_mle(ex):
    run = _run(ex, "blocks = []\nwhile True:\n    blocks.append(bytearray(50 << 20))\n")
    assert run.status == "memory"


def test_huge_output_is_capped(ex):
    start = time.monotonic()
    run = _run(ex, "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n")
    assert run.status == "output_limit"
    assert time.monotonic() - start < 10


def test_writes_outside_the_workdir_fail(ex):
    iso = ex.isolation()
    if not (iso["readonly_root"] or iso["private_tmp"]):
        pytest.skip("no read-only root or private /tmp on this host")
    target_tmp = Path(f"/tmp/pwned-{uuid.uuid4().hex}")
    target_repo = REPO / f"pwned-{uuid.uuid4().hex}"
    code = (f"import os\nopen('local.txt', 'w').write('fine')\nok = 0\n"
            f"for p in ({str(target_tmp)!r}, {str(target_repo)!r}, '/var/tmp/pwned', '/dev/shm/pwned'):\n"
            "    try:\n        open(p, 'w').write('x')\n        ok += 1\n    except OSError:\n        pass\n"
            "print(ok, os.path.exists('local.txt'))\n")
    run = _run(ex, code)
    assert run.stdout_head.split() == ["0", "True"]
    assert not target_tmp.exists() and not target_repo.exists()


def test_host_secrets_are_not_visible(ex):
    assert os.environ.get("HARNESS_SECRET_TOKEN")
    code = ("import os\nprint(os.environ.get('HARNESS_SECRET_TOKEN'))\nleaks = 0\n"
            "for pid in [p for p in os.listdir('/proc') if p.isdigit()] + [os.getppid(), 1]:\n    try:\n"
            "        leaks += b'HARNESS_SECRET_TOKEN' in open(f'/proc/{pid}/environ', 'rb').read()\n"
            "    except OSError:\n        pass\nprint(leaks)\n")
    run = _run(ex, code)
    assert run.stdout_head.split() == ["None", "0"]


def test_files_outside_the_system_dirs_are_hidden(ex, tmp_path):
    """Programs see the system, their interpreter and their own box: not the repository, not the
    task data (hidden tests), not the caller's temporary files."""
    if not ex.isolation()["mount_namespace"]:
        pytest.skip("no mount namespace on this host")
    mine = tmp_path / "secret.txt"
    mine.write_text("s3cret")
    targets = [str(REPO / "README.md"), str(mine), "/etc/hostname"]
    data = os.environ.get("HARNESS_DATA_DIR")
    if data:
        targets.append(str(Path(data) / "README.md"))
    code = ("import os\nfor p in %r:\n    print(p, os.path.exists(p))\n") % targets
    seen = dict(line.rsplit(" ", 1) for line in _run(ex, code).stdout_head.splitlines())
    assert seen.pop("/etc/hostname") == str(os.path.exists("/etc/hostname"))  # the system stays
    assert set(seen.values()) == {"False"}, seen


def test_no_network_even_to_localhost(ex):
    _need(ex, "network_namespace")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    try:
        code = ("import socket\ns = socket.socket()\ns.settimeout(2)\n"
                f"try:\n    s.connect(('127.0.0.1', {port}))\n    print('connected')\n"
                "except OSError as e:\n    print('blocked', type(e).__name__)\n")
        run = _run(ex, code)
        assert run.stdout_head.startswith("blocked")
        with pytest.raises(socket.timeout):
            server.accept()
    finally:
        server.close()


def test_killing_the_parent_or_everyone_fails(ex):
    _need_identity(ex)
    # In an own PID namespace the parent is invisible (getppid() == 0: kill(0) would be the
    # program's own group), PID 1 is the namespace's init, which ignores what it has no handler for.
    code = ("import os, signal\nppid = os.getppid()\nout = [f'ppid={ppid}']\n"
            "tries = [('init', lambda: os.kill(1, 9)), ('all', lambda: os.kill(-1, 9))]\n"
            "if ppid:\n"
            "    tries = [('ppid', lambda: os.kill(ppid, 9)),\n"
            "             ('pgrp', lambda: os.killpg(os.getpgid(ppid), 9))] + tries\n"
            "for what, fn in tries:\n"
            "    try:\n        fn()\n        out.append(what + ':sent')\n"
            "    except OSError as e:\n        out.append(what + ':' + type(e).__name__)\n"
            "print(' '.join(out))\n")
    run = _run(ex, code)
    if ex.isolation()["pid_namespace"]:
        assert run.stdout_head.startswith("ppid=0 ")
    else:
        assert "ppid:PermissionError" in run.stdout_head and "pgrp:PermissionError" in run.stdout_head
        assert "init:PermissionError" in run.stdout_head
    # kill(-1) reaches only the slot's own uid or PID namespace: the executor and this process carry on
    results = ex.run([_job("print(6 * 7)") for _ in range(4)])
    assert all(r.error is None and r.runs[0].stdout_head == "42\n" for r in results)


def _need_identity(ex: Executor) -> None:
    iso = ex.isolation()
    if not (iso["pid_namespace"] or iso["user"].startswith("per-slot uid")):
        pytest.skip("programs share the caller's uid and PID namespace: kill(-1) could reach us")


def test_the_callers_home_and_processes_are_out_of_reach(ex):
    _need_identity(ex)
    home = os.path.expanduser("~")
    code = ("import os\nhome = %r\ntry:\n    listing = os.listdir(home)\nexcept OSError:\n    listing = []\n"
            "print(os.access(home, os.W_OK), *sorted(listing))\n") % home
    writable, *listing = _run(ex, code).stdout_head.split()
    # only the way to an interpreter or package tree that lives in the home (e.g. ~/.pyenv) is there
    base = Path(home).resolve()
    needed = {Path(p).resolve().relative_to(base).parts[0]
              for p in (sys.base_prefix, sys.prefix, REPO) if Path(p).resolve().is_relative_to(base)}
    assert writable == "False" and set(listing) <= needed, listing


def test_nothing_carries_over_between_runs(ex):
    iso = ex.isolation()
    if iso["workdir"] != "box":
        pytest.skip("no box on this host")
    plant = ("import os\nhits = []\nfor d in ('.', '..', '/tmp', '/tmp/box'):\n    try:\n"
             "        open(os.path.join(d, 'planted'), 'w').write('x')\n        hits.append(d)\n"
             "    except OSError:\n        pass\nprint(hits)\n")
    look = ("import os\nprint([d for d in ('.', '..', '/tmp', '/tmp/box') "
            "if os.path.exists(os.path.join(d, 'planted'))])\n")
    first, second = (_run(ex, plant), _run(ex, look))
    assert "'.'" in first.stdout_head  # the working directory is writable
    assert second.stdout_head == "[]\n"


def test_a_venv_outside_the_usual_places_stays_visible(tmp_path):
    """The interpreter's tree is re-exposed under every directory the sandbox hides (/var/tmp here)."""
    import shutil
    import subprocess

    base = Path("/var/tmp")
    if not os.access(base, os.W_OK):
        pytest.skip("/var/tmp is not writable here")
    venv = base / f"harness-venv-{uuid.uuid4().hex[:8]}"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    try:
        python = str(venv / "bin" / "python")
        with Executor(workers=1, python=python, limits=Limits(timeout_s=5.0)) as executor:
            code = ("import os, sys\nprint(sys.executable, os.path.isfile(os.path.join("
                    "os.path.dirname(os.path.dirname(sys.executable)), 'pyvenv.cfg')))")
            result = executor.run([_job(code)])[0]
        assert result.error is None, result.error
        assert result.runs[0].stdout_head.split() == [python, "True"]
    finally:
        shutil.rmtree(venv, ignore_errors=True)


def test_no_isolation_at_all_needs_the_explicit_flag(monkeypatch):
    from harness.sandbox import SandboxError
    from harness.sandbox import isolation as iso

    monkeypatch.setattr(iso, "is_root", lambda: False)  # a host with neither root
    monkeypatch.setattr(iso, "userns_available", lambda: False)  # nor user namespaces
    with pytest.raises(SandboxError, match="--sandbox none"):
        Executor(workers=1).start()
    with Executor(workers=1, isolation="none") as executor:
        assert executor.isolation()["user"].startswith("unchanged")
        assert executor.run([_job("print(1)")])[0].runs[0].stdout_head == "1\n"


@pytest.mark.skipif(not os.environ.get("HARNESS_SANDBOX_REQUIRE_STRICT"),
                    reason="HARNESS_SANDBOX_REQUIRE_STRICT=1 where the host must isolate fully (CI)")
def test_strict_isolation_holds_on_this_host():
    with Executor(workers=1, isolation="strict") as executor:
        iso = executor.isolation()
        assert iso["missing"] == [] and iso["network_namespace"] and iso["readonly_root"]
        assert executor.run([_job("print(2)")])[0].runs[0].stdout_head == "2\n"


def test_exit_tricks_are_not_accepted():
    grader = CodeGrader(timeout_s=3.0)
    stdin_ref = Reference("p", tests={"kind": "lcb", "testtype": "stdin", "func_name": None,
                                      "tests": [{"input": "2 3\n", "output": "5\n"}],
                                      "behaviour_inputs": ["2 3\n"]})
    func_ref = Reference("f", tests={"kind": "lcb", "testtype": "functional", "func_name": "add",
                                     "tests": [{"input": "2\n3", "output": "5"}],
                                     "behaviour_inputs": ["2\n3"]})
    he_ref = Reference("h", tests={"kind": "humaneval", "prompt": "def add(a, b):\n", "entry_point": "add",
                                   "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n",
                                   "completion": "body", "behaviour_calls": ["2, 3"]})
    texts = {
        "p": ["```python\nimport os\nos._exit(0)\n```",  # exits before printing: WA
              "```python\nimport os\nprint(sum(map(int, input().split())), flush=True)\n"
              "os._exit(0)\n```",  # AC
              "```python\nimport sys\nsys.exit(3)\n```"],  # RE
        "f": ["```python\nimport os\nclass Solution:\n    def add(self, a, b):\n"
              "        os._exit(0)\n```",  # RE
              "```python\nclass Solution:\n    def add(self, a, b):\n        return a + b\n```"],  # AC
        "h": ["    import os\n    os._exit(0)\n", "    return a + b\n", "    raise SystemExit(0)\n"],
    }
    problems = [Problem(pid, "t", "") for pid in texts]
    refs = {"p": stdin_ref, "f": func_ref, "h": he_ref}
    cands = {pid: [Candidate(pid, i, t) for i, t in enumerate(ts)] for pid, ts in texts.items()}
    grades = grader.grade(problems, refs, cands, workers=2, progress=False)
    verdicts = {pid: [g.verdict for g in gs] for pid, gs in grades.items()}
    assert verdicts == {"p": ["WA", "AC", "RE"], "f": ["RE", "AC"], "h": ["RE", "AC", "RE"]}


def test_sandbox_failures_are_errors_not_wrong_answers(tmp_path):
    grader = CodeGrader(python=str(tmp_path / "no-such-python"))
    ref = Reference("p", tests={"kind": "lcb", "testtype": "stdin", "func_name": None,
                                "tests": [{"input": "1\n", "output": "1\n"}], "behaviour_inputs": ["1\n"]})
    grades = grader.grade([Problem("p", "t", "")], {"p": ref},
                          {"p": [Candidate("p", 0, "```python\nprint(1)\n```")]}, progress=False)
    (grade,) = grades["p"]
    assert grade.verdict == "error" and grade.correct is None and grade.cluster is None
    assert "interpreter" in grade.detail


def test_a_crashed_worker_is_an_error_and_replaced():
    import threading

    with Executor(workers=1, limits=Limits(timeout_s=5.0)) as executor:
        worker = executor._workers[0]
        killer = threading.Timer(1.0, lambda: worker.proc.kill())
        killer.start()
        try:
            got = dict(executor.map([_job("import time\ntime.sleep(4)\n"), _job("print('after')")]))
        finally:
            killer.cancel()
        assert got[0].error is not None and "crashed" in got[0].error
        assert got[1].error is None and got[1].runs[0].stdout_head == "after\n"  # requeued on a new worker
        assert _strays(executor) == []
