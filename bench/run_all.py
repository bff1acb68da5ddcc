"""Every bench, one command: runs them, writes bench/out/summary.json and the README's bench table.

    python bench/run_all.py [--only NAME,...] [--skip NAME,...] [--readme] [--from-saved]

Each bench runs as its own process (`python bench/<name>.py`) and saves its figures to
bench/out/<name>.json; this collects them, with each bench's headline in words, into
bench/out/summary.json and prints the markdown table. --readme rewrites the table between the
`<!-- bench-table:begin -->` and `<!-- bench-table:end -->` markers of README.md, so the README
shows exactly what the last run measured. --from-saved builds summary and table from the saved
JSON files without running anything (e.g. after running one bench by hand).
The miniature DAPO reproduction (about 70 minutes) runs only with --only miniature_dapo.
Math faults and the HumanEval acceptance run read the shared data (HARNESS_DATA_DIR).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
BEGIN, END = "<!-- bench-table:begin -->", "<!-- bench-table:end -->"


def _selection(d: dict) -> str:
    return (f"{d['seconds_harness']} s vs {d['seconds_naive_loop']} s ({d['speedup']}x); forced to sample "
            f"every N: {d['seconds_harness_all_sampled']} s ({d['speedup_all_sampled']}x)")


def _batching(d: dict) -> str:
    return (f"{d['seconds_batched']} s vs {d['seconds_one_at_a_time']} s ({d['speedup']}x), identical texts "
            f"{d['identical_texts']}")


def _decode(d: dict) -> str:
    return " / ".join(f"{name} {row['tok_per_s']} tok/s" for name, row in d["results"].items())


def _sandbox(d: dict) -> str:
    return (f"{d['sandbox_programs_per_s']} vs {d['bare_programs_per_s']} programs/s "
            f"({100 * d['sandbox_vs_bare']:.0f} %)")


def _humaneval(d: dict) -> str:
    return (f"pass@1/10/100 = {d['pass@1']} / {d['pass@10']} / {d['pass@100']}; "
            f"{d['programs'] / max(d['grade_and_run_s'], 1e-9):.1f} programs/s")


def _main_job(d: dict) -> str:
    calls = sum(d.get("judge_calls_first_run", {}).values())
    return (f"{d['first_run_s']} s first run (budget {d['budget_s']} s), {d['rerun_s']} s rerun with "
            f"{sum(d.get('model_calls_on_rerun', {}).values())} model calls; {calls} judge calls")


def _judge_cache(d: dict) -> str:
    f = d["figures"]
    sq, js = f["sqlite WAL"], f["jsonl read whole (before)"]
    return (f"{sq['open_and_1000_lookups_s']} s vs {js['open_and_1000_lookups_s']} s; peak memory "
            f"{sq['peak_memory_mb']} MB vs {js['peak_memory_mb']} MB")


def _faults(d: dict) -> str:
    rows = d["rows"]
    survived = sum(r["survived"] for r in rows)
    lost = sum(r["lines_lost"] or 0 for r in rows)
    mode = "quick mode" if d.get("quick") else "full mode"
    return f"{survived} of {len(rows)} faults survived, {lost} records lost ({mode}; table under Bad input)"


def _miniature(d: dict) -> str:
    return f"the public commands in {d['wall_s']} s (results/miniature.md)"


@dataclass(frozen=True)
class Bench:
    name: str
    what: str
    headline: Callable[[dict], str]
    args: tuple[str, ...] = ()
    default: bool = True  # run without --only


BENCHES = (
    Bench("selection_speed", "30 problems × 64 candidates, N ∈ {1,…,64}, 2,000 draws, first + majority + "
          "oracle vs a per-draw Python loop", _selection),
    Bench("genselect_batching", "16 GenSelect prompts on the embedded judge, one batch vs one at a time",
          _batching),
    Bench("decode_throughput", "same 8 prompts, 32 tokens: hf batched vs llama.cpp vs openai → local "
          "llama.cpp server", _decode),
    Bench("sandbox_speed", "short programs: sandbox vs bare `subprocess.run`", _sandbox),
    Bench("judge_cache", "100,000 cached judge calls: open + 1,000 lookups, sqlite vs the JSONL read whole",
          _judge_cache),
    Bench("faults", "kill -9 at every long stage, hostile and corrupted input", _faults, ("--quick",)),
    Bench("humaneval_acceptance", "import + grade the 16,400 CodeGen-16B HumanEval programs", _humaneval),
    Bench("main_job", "README command 1 from an empty results tree, then again", _main_job),
    Bench("miniature_dapo", "the miniature DAPO reproduction through the public commands", _miniature,
          default=False),
)
SAVED = {"miniature_dapo": "miniature"}  # benches whose JSON is named otherwise


def saved(bench: Bench) -> dict[str, Any] | None:
    path = OUT / f"{SAVED.get(bench.name, bench.name)}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| Script | What | Measured (bench/run_all.py) |", "|---|---|---|"]
    for row in rows:
        lines.append(f"| `bench/{row['bench']}.py` | {row['what']} | {row['headline']} |")
    return "\n".join(lines)


def write_readme(text: str) -> None:
    readme = REPO / "README.md"
    content = readme.read_text(encoding="utf-8")
    if BEGIN not in content or END not in content:
        raise SystemExit(f"README.md has no {BEGIN} ... {END} markers")
    head, rest = content.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated bench names")
    parser.add_argument("--skip", default="", help="comma-separated bench names to leave out")
    parser.add_argument("--readme", action="store_true", help="rewrite the README's bench table")
    parser.add_argument("--from-saved", action="store_true", help="run nothing; summarise the saved figures")
    args = parser.parse_args()
    names = {b.name for b in BENCHES}
    wanted = set(args.only.split(",")) if args.only else {b.name for b in BENCHES if b.default}
    wanted -= set(filter(None, args.skip.split(",")))
    unknown = wanted - names
    if unknown:
        parser.error(f"unknown bench(es) {', '.join(sorted(unknown))}; known: {', '.join(sorted(names))}")
    OUT.mkdir(parents=True, exist_ok=True)
    ran: dict[str, dict[str, Any]] = {}
    for bench in BENCHES:
        if bench.name not in wanted or args.from_saved:
            continue
        start = time.monotonic()
        script = REPO / "bench" / f"{bench.name}.py"
        proc = subprocess.run([sys.executable, str(script), *bench.args], cwd=REPO, env=os.environ.copy(),
                              capture_output=True, text=True)
        ran[bench.name] = {"rc": proc.returncode, "wall_s": round(time.monotonic() - start, 1),
                           "stderr_tail": proc.stderr[-1500:] if proc.returncode else ""}
        print(f"[run_all] {bench.name}: exit {proc.returncode} in {ran[bench.name]['wall_s']} s",
              file=sys.stderr, flush=True)
    rows = []
    for bench in BENCHES:
        figures = saved(bench)  # a bench not run now shows its last saved figures
        if figures is None:
            continue
        try:
            headline = bench.headline(figures)
        except (KeyError, TypeError, ZeroDivisionError) as exc:
            headline = f"(figures unreadable: {type(exc).__name__} {exc})"
        rows.append({"bench": bench.name, "what": bench.what, "headline": headline,
                     "ran_now": bench.name in ran, **ran.get(bench.name, {}), "figures": figures})
    summary = {"created_unix": time.time(), "cpus": os.cpu_count(), "benches": rows}
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    text = table(rows)
    print(text)
    if args.readme:
        write_readme(text)
    failed = [name for name, r in ran.items() if r["rc"]]
    if failed:
        print(f"[run_all] failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
