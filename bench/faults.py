"""Faults injected through the public CLI; one table: fault, survived, lines lost, time to recover.

    python bench/faults.py [--quick] [--only NAME,...] [--check] [--out bench/out/faults.json]

Each fault runs in a fresh results tree under a temporary directory:
- kill -9 in the middle of generation, grading, judging, pool import and DAPO training, then the
  same command again: "lines lost" counts records that were complete at the kill and are gone
  (or were redone) afterwards; the half-written line in flight is not a record. For training it
  is the rollout steps redone after the last checkpoint. "recover s" is the rerun's wall time.
- hostile math answers (a power tower, a huge factorial, deep nesting, a 1 MB answer): the run
  finishes, each hits the grading step limit or a verdict, and is counted;
- a corrupted grades-cache line, a judge cache that is not a database, a sandbox worker killed in
  the middle of a job, two runs at once on one tree.
A resumed grading or judging run must give the numbers of an uninterrupted one (full mode).
Math grading uses the shared data's math_l5 pool (HARNESS_DATA_DIR or --data-dir; the row is
skipped without it). --quick leaves out training and the uninterrupted reference runs (whose
numbers the resumed runs must equal); --check exits 1 unless every fault that ran survived
without losing a line. Figures go to bench/out/faults.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.jsonl import iter_plain, read_records  # noqa: E402

ARITH = "arith:level=mixed,n=16,split=test,seed=0"
MODEL = "smollm2-135m"


@dataclass
class Row:
    fault: str
    survived: bool
    lines_lost: int | None  # None: not a kill-and-resume fault
    recover_s: float
    note: str = ""


class Tree:
    """A results tree and the CLI run against it."""

    def __init__(self, root: Path, data_dir: str | None) -> None:
        self.root = root
        self.results = root / "results"
        self.env = {**os.environ, **({"HARNESS_DATA_DIR": data_dir} if data_dir else {})}

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "harness", *args, "--results-dir", str(self.results)]

    def cli(self, *args: str, timeout: float = 1800) -> tuple[int, str, float]:
        start = time.monotonic()
        proc = subprocess.run(self.argv(*args), cwd=REPO, env=self.env, capture_output=True, text=True,
                              timeout=timeout)
        return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start

    def kill_when(self, args: tuple[str, ...], ready: Callable[[], bool], timeout: float = 900) -> str:
        """Start the command, SIGKILL its whole process group once `ready()` holds; returns why
        not, if the kill point was never reached. The killed command's output is in self.killed_log."""
        self.killed_log = self.root / "killed.log"
        with self.killed_log.open("w") as log:
            proc = subprocess.Popen(self.argv(*args), cwd=REPO, env=self.env, start_new_session=True,
                                    stdout=log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + timeout
            try:
                while not ready():
                    if proc.poll() is not None:
                        tail = self.killed_log.read_text()[-300:]
                        return f"finished before the kill (exit {proc.returncode}): {tail}"
                    if time.monotonic() > deadline:
                        return "never reached the kill point"
                    time.sleep(0.05)
                return ""
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def one(self, pattern: str) -> Path | None:
        found = sorted(self.results.glob(pattern))
        return found[0] if found else None


def keys(path: Path | None, kind: str, fields: tuple[str, ...] = ("problem_id", "index")) -> Counter:
    if path is None or not path.exists():
        return Counter()
    _, rows = read_records(path, kind)  # raises on any unreadable line: a corrupted file fails here
    return Counter(tuple(r[f] for f in fields) for r in rows)


def judge_keys(tree: Tree) -> set[str]:
    path = tree.one("judge/*.sqlite")
    if path is None:
        return set()
    with sqlite3.connect(path, timeout=30) as db:
        return {k for (k,) in db.execute("SELECT key FROM calls")}


def table_rows(output: str) -> list[str]:
    """The accuracy rows of a run's table (not the judge-call counts, which differ after a resume)."""
    return [line for line in output.splitlines()
            if line.startswith(("majority", "genselect", "first")) and "judge calls" not in line]


def _resumed(fault: str, before: Counter | set, after: Counter | set, rc: int, recover: float,
             complete: bool, note: str) -> Row:
    lost = len(set(before) - set(after))
    dupes = sum(v - 1 for v in after.values()) if isinstance(after, Counter) else 0
    if dupes:
        note = f"{dupes} duplicated records; " + note
    return Row(fault, rc == 0 and complete and not dupes and lost == 0, lost, round(recover, 1), note)


# -- kill -9 and resume ----------------------------------------------------------------------------

def kill_generate(tree: Tree, quick: bool) -> Row:
    args = ("generate", "--task", ARITH, "--model", MODEL, "--samples", "4", "--max-tokens", "12",
            "--chunk", "8", "--quiet")
    pool = lambda: tree.one("pools/*/*/*/candidates.jsonl")  # noqa: E731
    why = tree.kill_when(args, lambda: sum(keys(pool(), "candidates").values()) >= 16)
    if why:
        return Row("kill -9 during generation", False, None, 0.0, why)
    before = keys(pool(), "candidates")
    rc, out, took = tree.cli(*args)
    after = keys(pool(), "candidates")
    return _resumed("kill -9 during generation", before, after, rc, took, sum(after.values()) == 64,
                    f"{sum(before.values())} of 64 candidates at the kill; the rerun generated the rest")


def _math_pool(tree: Tree, data: Path) -> str:
    files = sorted(str(p) for p in (data / "pools" / "math_l5").glob("*.jsonl"))
    rc, out, _ = tree.cli("pool", "import", "--task", "math_l5", *files)
    assert rc == 0, out
    return "cross-model"


def kill_grading(tree: Tree, quick: bool, data: Path | None) -> Row:
    fault = "kill -9 during math grading (math_l5, 4,320 answers)"
    if data is None:
        return Row(fault, True, None, 0.0, "skipped: needs HARNESS_DATA_DIR")
    pool = _math_pool(tree, data)
    args = ("run", "--task", "math_l5", "--pool", pool, "--selector", "first,majority", "--n", "4", "--quiet")
    grades = lambda: tree.one("pools/math_l5/*/*/grades.*.jsonl")  # noqa: E731
    why = tree.kill_when(args, lambda: sum(keys(grades(), "grades").values()) >= 1)
    if why:
        return Row(fault, False, None, 0.0, why)
    before = keys(grades(), "grades")
    rc, out, took = tree.cli(*args)
    after = keys(grades(), "grades")
    note = f"{sum(before.values())} graded at the kill"
    complete = sum(after.values()) == 4320
    if not quick:  # the same numbers as grading without a kill
        fresh = Tree(tree.root / "uninterrupted", tree.env.get("HARNESS_DATA_DIR"))
        _math_pool(fresh, data)
        _, ref_out, ref_s = fresh.cli(*args)
        same = table_rows(ref_out) == table_rows(out) and table_rows(out) != []
        complete = complete and same
        note += f"; numbers {'equal' if same else 'DIFFER from'} an uninterrupted run ({ref_s:.0f} s)"
    return _resumed(fault, before, after, rc, took, complete, note)


_TEMPLATE: dict[str, Path] = {}  # one generated arith pool per invocation, copied into each tree


def _arith_pool(tree: Tree) -> None:
    template = _TEMPLATE.get("pools")
    if template is None:
        rc, out, _ = tree.cli("generate", "--task", ARITH, "--model", MODEL, "--samples", "4",
                              "--max-tokens", "12", "--quiet")
        assert rc == 0, out
        template = _TEMPLATE["pools"] = tree.root.parent / "template-pools"
        shutil.copytree(tree.results / "pools", template)
        return
    shutil.copytree(template, tree.results / "pools", dirs_exist_ok=True)


JUDGE = ("--selector", "genselect", "--judge-model", MODEL, "--judge-max-tokens", "32", "--n", "4",
         "--llm-draws", "1", "--judge-chunk", "2", "--quiet")


def kill_judging(tree: Tree, quick: bool) -> Row:
    fault = "kill -9 during judging (genselect, SmolLM2)"
    _arith_pool(tree)
    args = ("run", "--task", ARITH, "--model", MODEL, "--samples", "4", "--max-tokens", "12", *JUDGE)
    why = tree.kill_when(args, lambda: len(judge_keys(tree)) >= 4)
    if why:
        return Row(fault, False, None, 0.0, why)
    before = judge_keys(tree)
    rc, out, took = tree.cli(*args)
    after = judge_keys(tree)
    complete = len(after) >= 16
    note = f"{len(before)} of {len(after)} judge calls cached at the kill"
    if not quick:  # the same numbers as judging without a kill
        fresh = Tree(tree.root / "uninterrupted", None)
        _arith_pool(fresh)
        _, ref_out, ref_s = fresh.cli(*args)
        same = table_rows(ref_out) == table_rows(out) and table_rows(out) != []
        complete = complete and same
        note += f"; numbers {'equal' if same else 'DIFFER from'} an uninterrupted run ({ref_s:.0f} s)"
    return _resumed(fault, before, after, rc, took, complete, note)


def kill_import(tree: Tree, quick: bool) -> Row:
    from harness.plugins import load_task
    from harness.settings import Settings

    task = load_task(ARITH, Settings.resolve(results_dir=tree.results))
    samples = 2000 if quick else 6000
    source = tree.root / "big.jsonl"
    with source.open("w") as handle:
        for p in task.problems():
            for i in range(samples):
                handle.write(json.dumps({"problem_id": p.id, "model": "big", "sample_index": i,
                                         "response": f"The answer is {i}."}) + "\n")
    total = samples * len(task.problems())
    args = ("pool", "import", "--task", ARITH, str(source))
    pool = lambda: tree.one("pools/*/big/*/candidates.jsonl")  # noqa: E731
    # the file's line count, cheap to poll while the importer appends
    lines = lambda: (p.read_bytes().count(b"\n") - 1) if (p := pool()) else 0  # noqa: E731
    why = tree.kill_when(args, lambda: lines() >= total // 4)
    if why:
        return Row(f"kill -9 during pool import ({total:,} lines)", False, None, 0.0, why)
    before = keys(pool(), "candidates")
    rc, out, took = tree.cli(*args)
    after = keys(pool(), "candidates")
    return _resumed(f"kill -9 during pool import ({total:,} lines)", before, after, rc, took,
                    sum(after.values()) == total, f"{sum(before.values()):,} imported at the kill")


def kill_training(tree: Tree, quick: bool) -> Row:
    import yaml

    fault = "kill -9 during DAPO training (cpu-smoke, 3 steps)"
    from harness.plugins import load_task
    from harness.pools import PoolStore
    from harness.settings import Settings
    from harness.types import Candidate, GenSpec

    task_arg = "arith:level=mul1,n=8,split=train,seed=0"
    settings = Settings.resolve(results_dir=tree.results)
    task = load_task(task_arg, settings)
    pool = PoolStore(settings.pools_dir).create(task.name, GenSpec(backend="import", model="synthetic"),
                                                task.problems(), label="synthetic")
    pool.append(Candidate(p.id, j, f"{p.metadata['operands'][0]} times {p.metadata['operands'][1]} is "
                                   f"{p.metadata['operands'][0] * p.metadata['operands'][1] + (j > 1) * j}.")
                for p in task.problems() for j in range(8))
    cfg = yaml.safe_load((REPO / "trainers/configs/cpu-smoke.yaml").read_text())
    cfg["data"]["pools"] = [{"task": task_arg, "pool": str(pool.path)}]
    cfg["dapo"].update(max_steps=3, save_steps=1)
    config = tree.root / "train.yaml"
    config.write_text(yaml.safe_dump(cfg))
    args = ("train", "--config", str(config))
    ckpt = lambda: list(tree.results.glob("checkpoints/.work/*/checkpoint-*/dapo_state.json"))  # noqa: E731
    why = tree.kill_when(args, lambda: bool(ckpt()))
    if why:
        return Row(fault, False, None, 0.0, why)
    rc, out, took = tree.cli(*args, "--resume")
    records = list(tree.results.glob("checkpoints/*/training.json"))
    entry = json.loads(records[0].read_text())["entry"] if records else {}
    done = (entry.get("steps"), entry.get("optimizer_steps")) == (3, 6)
    resumed = entry.get("resumed_from_step") or 0
    # rollout steps finished before the kill but after the checkpoint resumed from are redone
    finished = [int(line.split()[3].rstrip(":")) for line in tree.killed_log.read_text().splitlines()
                if line.startswith("[dapo] rollout step ")]
    lost = max([0, *finished]) - resumed
    note = (f"killed after rollout step {max([0, *finished])}, resumed at {resumed}; ended with "
            f"{entry.get('steps')} steps, {entry.get('optimizer_steps')} optimizer steps "
            "(uninterrupted: 3, 6)")
    return Row(fault, rc == 0 and done and resumed >= 1, lost, round(took, 1), note)


# -- hostile and corrupted input ----------------------------------------------------------------

HOSTILE = [r"\boxed{9^{9^{9^{9^{9}}}}}", r"\boxed{100000000!}",
           "\\boxed{" + "{" * 3000 + "1" + "}" * 3000 + "}", "\\boxed{" + "7" * 1_000_000 + "}",
           r"\boxed{10^{10^{10^{10^{10}}}} - 10^{10^{10^{10^{10}}}}}"]


def hostile_math(tree: Tree, quick: bool, data: Path | None) -> Row:
    fault = "hostile math answers (power towers, 10^8!, 3,000-deep braces, 1 MB)"
    if data is None:
        return Row(fault, True, None, 0.0, "skipped: needs HARNESS_DATA_DIR")
    first = next(iter_plain(data / "pools" / "math_l5" / "gemma-2-2b-it.jsonl"))[1]
    source = tree.root / "hostile.jsonl"
    source.write_text("".join(json.dumps({"problem_id": first["problem_id"], "model": "hostile",
                                          "sample_index": i, "response": text}) + "\n"
                              for i, text in enumerate(HOSTILE)))
    rc, out, _ = tree.cli("pool", "import", "--task", "math_l5", str(source))
    if rc:
        return Row(fault, False, None, 0.0, out[-300:])
    rc, out, took = tree.cli("run", "--task", "math_l5", "--pool", "hostile", "--selector", "majority",
                             "--n", "2", "--max-grader-error-rate", "1.0", "--quiet")
    grades = tree.one("pools/math_l5/hostile/*/grades.*.jsonl")
    verdicts = Counter(r["verdict"] for r in read_records(grades, "grades")[1]) if grades else Counter()
    return Row(fault, rc == 0 and sum(verdicts.values()) == len(HOSTILE), None, round(took, 1),
               "verdicts " + ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items())))


def corrupted_grades_line(tree: Tree, quick: bool) -> Row:
    _arith_pool(tree)
    args = ("run", "--task", ARITH, "--model", MODEL, "--samples", "4", "--max-tokens", "12",
            "--selector", "majority", "--n", "4", "--quiet")
    rc, first_out, _ = tree.cli(*args)
    grades = tree.one("pools/*/*/*/grades.*.jsonl")
    assert grades is not None
    lines = grades.read_bytes().split(b"\n")
    lines[5] = b"\xff\x00 not a record"
    grades.write_bytes(b"\n".join(lines))
    rc, out, took = tree.cli(*args)
    after = keys(grades, "grades")
    same = table_rows(out) == table_rows(first_out) != []
    return Row("corrupted grades-cache line", rc == 0 and same and sum(after.values()) == 64, 0,
               round(took, 1), "the line dropped and its candidate graded again; same numbers"
               if same else out[-300:])


def broken_judge_cache(tree: Tree, quick: bool) -> Row:
    _arith_pool(tree)
    args = ("run", "--task", ARITH, "--model", MODEL, "--samples", "4", "--max-tokens", "12", "--selector",
            "genselect", "--judge-model", MODEL, "--judge-max-tokens", "16", "--n", "2", "--llm-draws", "1",
            "--quiet")
    tree.cli(*args)
    cache = tree.one("judge/*.sqlite")
    if cache is None:
        return Row("judge cache that is not a database", False, None, 0.0, "no judge cache was written")
    for extra in ("-wal", "-shm"):
        Path(str(cache) + extra).unlink(missing_ok=True)
    cache.write_bytes(b"not a database" * 1000)
    rc, out, took = tree.cli(*args)
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    clean = rc == 2 and len(errors) == 1 and str(cache) in errors[0] and "Traceback" not in out
    return Row("judge cache that is not a database", clean, None, round(took, 1),
               "one error line naming the file (move it aside)" if clean else out[-300:])


def sandbox_worker_killed(tree: Tree, quick: bool) -> Row:
    import threading

    from harness.sandbox import Executor, Job, Limits, Run

    jobs = [Job(files={"p.py": "import time\ntime.sleep(2)\nprint('ok')\n"}, runs=(Run(argv=("p.py",)),))
            for _ in range(6)]
    start = time.monotonic()
    with Executor(workers=2, limits=Limits(timeout_s=10)) as ex:
        killer = threading.Timer(1.0, lambda: ex._workers[0].proc and ex._workers[0].proc.kill())
        killer.start()
        results = ex.run(jobs)
        killer.cancel()
    took = time.monotonic() - start
    errors = sum(1 for r in results if r.error)
    ok = sum(1 for r in results if r.error is None and r.runs[0].stdout_head == "ok\n")
    return Row("sandbox worker SIGKILLed mid-job", errors == 1 and ok == 5, None, round(took, 1),
               f"{errors} job reported as a grader error, {ok} finished on the replacement")


def concurrent_runs(tree: Tree, quick: bool) -> Row:
    _arith_pool(tree)
    args = ("run", "--task", ARITH, "--model", MODEL, "--samples", "4", "--max-tokens", "12",
            "--selector", "majority,genselect", "--judge-model", MODEL, "--judge-max-tokens", "24",
            "--n", "2", "--llm-draws", "1", "--quiet")
    start = time.monotonic()
    procs = [subprocess.Popen(tree.argv(*args), cwd=REPO, env=tree.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=1800)[0] for p in procs]
    took = time.monotonic() - start
    grades = keys(tree.one("pools/*/*/*/grades.*.jsonl"), "grades")
    same = table_rows(outs[0]) == table_rows(outs[1]) != []
    dupes = sum(v - 1 for v in grades.values())
    ok = all(p.returncode == 0 for p in procs) and same and dupes == 0
    return Row("two runs at once on one tree", ok, None, round(took, 1),
               f"numbers {'identical' if same else 'DIFFER'}; {dupes} duplicated grade rows; "
               f"{len(judge_keys(tree))} judge calls stored once each")


FAULTS: dict[str, Callable[..., Row]] = {
    "generate": kill_generate, "grading": kill_grading, "judging": kill_judging, "import": kill_import,
    "training": kill_training, "hostile-math": hostile_math, "grades-line": corrupted_grades_line,
    "judge-cache": broken_judge_cache, "sandbox-worker": sandbox_worker_killed, "concurrent": concurrent_runs,
}
NEEDS_DATA = {"grading", "hostile-math"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="no training, no uninterrupted reference runs")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(FAULTS)}")
    parser.add_argument("--check", action="store_true", help="exit 1 unless every fault survived losslessly")
    parser.add_argument("--data-dir", default=os.environ.get("HARNESS_DATA_DIR"))
    parser.add_argument("--out", default=str(REPO / "bench" / "out" / "faults.json"))
    args = parser.parse_args()
    names = args.only.split(",") if args.only else [n for n in FAULTS if not (args.quick and n == "training")]
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        parser.error(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(FAULTS)}")
    data = Path(args.data_dir) if args.data_dir else None
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="harness-faults-") as tmp:
        for name in names:
            tree = Tree(Path(tmp) / name, args.data_dir)
            tree.root.mkdir()
            fn = FAULTS[name]
            started = time.monotonic()
            try:
                row = fn(tree, args.quick, data) if name in NEEDS_DATA else fn(tree, args.quick)
            except Exception as exc:  # noqa: BLE001 - a fault the harness did not survive is a row
                row = Row(name, False, None, 0.0, f"{type(exc).__name__}: {exc}"[:300])
            rows.append(row)
            print(f"[faults] {name}: {'survived' if row.survived else 'FAILED'} "
                  f"({time.monotonic() - started:.0f} s) {row.note}", file=sys.stderr, flush=True)
            shutil.rmtree(tree.root, ignore_errors=True)
    print("| fault | survived | lines lost | time to recover (s) | note |")
    print("|---|---|---|---|---|")
    for row in rows:
        lost = "-" if row.lines_lost is None else str(row.lines_lost)
        print(f"| {row.fault} | {'yes' if row.survived else 'NO'} | {lost} | {row.recover_s} | {row.note} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"quick": args.quick, "rows": [asdict(r) for r in rows],
                               "machine": {"cpus": os.cpu_count()}}, indent=2) + "\n")
    print(f"-> {out}", file=sys.stderr)
    return 0 if (not args.check or all(r.survived and not r.lines_lost for r in rows)) else 1


if __name__ == "__main__":
    sys.exit(main())
