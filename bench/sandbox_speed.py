"""Sandbox throughput vs a bare subprocess.run of the same programs (same inputs, same workers).

    python bench/sandbox_speed.py [--programs 300] [--workers N] [--repeat 5]

Programs: short stdin programs (read a line, compute a little, print), each with its own input.
"bare" = subprocess.run([python, "-S",
file], input=..., capture_output=True, timeout=6) from a thread pool of the same size as the
sandbox's worker pool; "sandbox" = Executor(...).run(jobs) with full isolation (user, network
and mount namespaces, read-only root, private /tmp, cgroups, rlimits), timed after start-up
(start-up is reported separately). The best of --repeat rounds is kept for each side, rounds
alternate between the two so background load hits both alike. Figures go to stdout and to
bench/out/sandbox_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.sandbox import Executor, Job, Run

PROGRAMS = [
    "n = int(input())\nprint(sum(i * i for i in range(n)))\n",
    "s = input().strip()\nprint(s[::-1], len(s))\n",
    "a = list(map(int, input().split()))\na.sort()\nprint(*a)\n",
    "import sys\ndata = sys.stdin.read().split()\nprint(max(map(int, data)) - min(map(int, data)))\n",
    "from collections import Counter\nc = Counter(input())\nprint(c.most_common(1)[0][0])\n",
]


def make_inputs(count: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(count):
        program = PROGRAMS[i % len(PROGRAMS)]
        kind = i % len(PROGRAMS)
        stdin = [f"{1000 + i}\n", f"word{i}abc\n", " ".join(str((i * 7 + j) % 97) for j in range(50)) + "\n",
                 " ".join(str(j * i % 101) for j in range(1, 40)) + "\n", f"banana{i}\n"][kind]
        out.append((program, stdin.encode()))
    return out


def run_bare(items, workers: int, python: str, folder: Path) -> tuple[float, list[str]]:
    paths = []
    for i, (program, _) in enumerate(items):
        path = folder / f"prog{i}.py"
        path.write_text(program)
        paths.append(path)

    def one(i: int) -> str:
        proc = subprocess.run([python, "-S", str(paths[i])], input=items[i][1], capture_output=True,
                              timeout=6)
        return proc.stdout.decode()

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outs = list(pool.map(one, range(len(items))))
    return time.perf_counter() - start, outs


def run_sandbox(executor: Executor, items) -> tuple[float, list[str]]:
    jobs = [Job(files={"prog.py": program}, runs=(Run(argv=("prog.py",), stdin=stdin),))
            for program, stdin in items]
    start = time.perf_counter()
    results = executor.run(jobs)
    elapsed = time.perf_counter() - start
    bad = [r for r in results if r.error or r.runs[0].status != "ok"]
    if bad:
        raise SystemExit(f"{len(bad)} sandboxed runs failed, e.g. {bad[0]}")
    return elapsed, [r.runs[0].stdout_head for r in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--programs", type=int, default=300)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "sandbox_speed.json"))
    args = parser.parse_args()
    items = make_inputs(args.programs)
    python = sys.executable
    t0 = time.perf_counter()
    executor = Executor(workers=args.workers)
    executor.start()
    startup = time.perf_counter() - t0
    t0 = time.perf_counter()
    minimal = Executor(workers=args.workers, isolation="none")
    minimal.start()
    startup_minimal = time.perf_counter() - t0
    bare_times, sandbox_times, minimal_times = [], [], []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.repeat):
                t_bare, bare_out = run_bare(items, args.workers, python, Path(tmp))
                t_box, box_out = run_sandbox(executor, items)
                t_min, _ = run_sandbox(minimal, items)
                if [o[:2048] for o in bare_out] != box_out:
                    raise SystemExit("sandboxed outputs differ from bare outputs")
                bare_times.append(t_bare)
                sandbox_times.append(t_box)
                minimal_times.append(t_min)
        isolation = executor.isolation()
    finally:
        executor.close()
        minimal.close()
    n = len(items)
    bare_rate, box_rate, min_rate = n / min(bare_times), n / min(sandbox_times), n / min(minimal_times)
    report = {
        "programs": n, "workers": args.workers, "repeat": args.repeat, "python": python,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "loadavg": os.getloadavg()},
        "bare_programs_per_s": round(bare_rate, 1),
        "sandbox_programs_per_s": round(box_rate, 1),
        "sandbox_minimal_programs_per_s": round(min_rate, 1),
        "sandbox_vs_bare": round(box_rate / bare_rate, 3),
        "target_ratio": 0.70,
        "rounds_s": {"bare": [round(t, 3) for t in bare_times],
                     "sandbox": [round(t, 3) for t in sandbox_times],
                     "sandbox_minimal": [round(t, 3) for t in minimal_times]},
        "startup_s": {"sandbox": round(startup, 3), "sandbox_minimal": round(startup_minimal, 3)},
        "isolation": isolation,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"bare subprocess.run : {bare_rate:7.1f} programs/s")
    print(f"sandbox (full)      : {box_rate:7.1f} programs/s  ({box_rate / bare_rate:.0%} of bare; "
          "target >= 70%)")
    print(f"sandbox (none)      : {min_rate:7.1f} programs/s")
    print(f"start-up: full {startup:.2f}s, minimal {startup_minimal:.2f}s; {n} programs x {args.repeat} "
          f"rounds, {args.workers} workers -> {out}")


if __name__ == "__main__":
    main()
