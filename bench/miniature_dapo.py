"""The miniature DAPO reproduction, through the product's public commands only.

    python bench/miniature_dapo.py            # evaluate the newest checkpoint (shipped or local)
    python bench/miniature_dapo.py --train    # train cpu-miniature first (warm-up + ~50 min of DAPO)

Each step is one `python -m harness ...` command, run and timed as a user would run it:

  0. (--train) harness train --config cpu-miniature          LoRA adapter, registered
  1. harness run --task HELD_OUT --model smollm2-135m          SmolLM2 generates N = 8, then
         --selector first,majority,genselect,rl-genselect,oracle --n 1,2,4,8
  2. harness generate --task HELD_OUT --model gemma3-270m      the stronger generator's pool
  3. harness compare --task HELD_OUT --pools smollm2-135m,gemma3-270m  (same selectors, same subsets:
         the paper's transfer test, a judge trained on the weaker generator's candidates; the
         prompted genselect judge is SmolLM2 itself, --judge-model smollm2-135m, on both pools)
  4. harness plot --task HELD_OUT --pool P                      one scaling plot per generator
  5. harness cues --run RL --run GS                             what the judges follow (selections.jsonl)

Then the table (results/miniature.md, bench/out/miniature.json) is read back from the run records
through the public API (harness.store.load_runs, harness.leaderboard.leaderboard_rows): accuracy
with its 95% bootstrap CI, and the paired 95% CIs of rl-genselect - majority and rl-genselect -
genselect, per generator and N. A rerun finds every pool and judge call cached (zero model calls).

HELD_OUT is arith's test split (operand tuples disjoint from the train split the checkpoint was
trained on), level "mixed", 120 problems.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HELD_OUT = "arith:level=mixed,n=120,split=test,seed=0"
SELECTORS = "first,majority,genselect,rl-genselect,oracle"
NS = "1,2,4,8"
GENERATORS = ("smollm2-135m", "gemma3-270m")


def harness(*args: str, log: list[dict]) -> str:
    """Run `python -m harness ARGS`, echo it, time it; its stdout."""
    cmd = [sys.executable, "-m", "harness", *args]
    print("$ " + " ".join(["python -m harness", *args]), flush=True)
    start = time.time()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    seconds = time.time() - start
    log.append({"command": " ".join(["python -m harness", *args]), "seconds": round(seconds, 1),
                "returncode": proc.returncode})
    if proc.returncode != 0:
        raise SystemExit(f"`{' '.join(args)}` failed ({proc.returncode}); its stdout:\n{proc.stdout[-3000:]}")
    print(f"  ({seconds:.0f} s)", flush=True)
    return proc.stdout


def table(results: Path, task_name: str) -> tuple[str, list[dict]]:
    from harness.leaderboard import leaderboard_rows
    from harness.settings import Settings
    from harness.store import load_runs

    settings = Settings.resolve(results_dir=results)
    records = [r for r in load_runs(settings.runs_dir) if r.info.task.name == task_name]
    rows = [r for r in leaderboard_rows(records) if r.mode == "subsets"]
    llm: dict[tuple[str, str], Any] = {}  # the run that made the calls (`compare` finds them cached)
    for rec in records:
        key = (rec.info.pool.label, rec.info.selector.label())
        if rec.info.llm and (key not in llm or rec.info.llm.calls > llm[key].calls):
            llm[key] = rec.info.llm
    lines, out = [], []
    for generator in GENERATORS:
        mine = [r for r in rows if r.generator == generator]
        if not mine:
            continue
        lines += [f"### Generator {generator} ({mine[0].problems} held-out problems)", "",
                  "| selector | N | accuracy [95% CI] | vs majority [paired 95% CI] "
                  "| vs genselect [paired 95% CI] |",
                  "|---|---|---|---|---|"]
        for r in sorted(mine, key=lambda r: (SELECTORS.split(",").index(r.selector), r.n)):
            def diff(name: str) -> str:
                mean = getattr(r, f"vs_{name}")
                if mean is None:
                    return "-"
                low, high = getattr(r, f"vs_{name}_low"), getattr(r, f"vs_{name}_high")
                return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"

            lines.append(f"| {r.label} | {r.n} | {r.accuracy:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}] | "
                         f"{diff('majority')} | {diff('genselect')} |")
            out.append(r.__dict__)
        lines.append("")
        for (gen, label), stats in sorted(llm.items()):
            if gen == generator:
                lines.append(f"- {label}: {stats.calls} judge calls ({stats.cached} cached, "
                             f"{stats.skipped_windows} windows decided without a call), parse rate "
                             f"{1 - stats.parse_failure_rate:.3f}")
        lines.append("")
    return "\n".join(lines), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", action="store_true", help="train cpu-miniature first")
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--llm-draws", default="2",
                        help="subsets per (problem, N) judged by each LLM selector")
    parser.add_argument("--out", default="results/miniature.md")
    args = parser.parse_args()
    results = Path(args.results_dir)
    common = ["--results-dir", str(results)]
    log: list[dict] = []
    started = time.time()
    if args.train:
        harness("train", "--config", "cpu-miniature", *common, log=log)
    checkpoint = harness("checkpoints", *common, log=log)
    # the prompted judge is the trained judge's own base, SmolLM2, on both generators' candidates
    judges = ["--judge-model", "smollm2-135m", "--llm-draws", args.llm_draws]
    harness("run", "--task", HELD_OUT, "--model", GENERATORS[0], "--selector", SELECTORS, "--n", NS, *judges,
            "--quiet", *common, log=log)
    harness("generate", "--task", HELD_OUT, "--model", GENERATORS[1], "--samples", "8", "--quiet", *common,
            log=log)
    harness("compare", "--task", HELD_OUT, "--pools", ",".join(GENERATORS), "--selectors", SELECTORS,
            "--n", NS, *judges, "--quiet", *common, log=log)
    from harness.plugins import load_task
    from harness.settings import Settings
    from harness.store import load_runs

    settings = Settings.resolve(results_dir=results)
    task_name = load_task(HELD_OUT, settings).name
    for generator in GENERATORS:
        harness("plot", "--task", HELD_OUT, "--pool", generator, *common, log=log)
    newest = {}
    for record in load_runs(settings.runs_dir):
        if record.info.task.name == task_name and record.info.selector.name in ("genselect", "rl-genselect"):
            newest[(record.info.pool.label, record.info.selector.name)] = record.path.name
    cue_runs = [newest[(g, s)] for g in GENERATORS for s in ("rl-genselect", "genselect") if (g, s) in newest]
    harness("cues", *[a for run in cue_runs for a in ("--run", run)], "--out", "results/miniature_cues.md",
            "--title", f"What the judges follow on {HELD_OUT}", *common, log=log)
    body, rows = table(results, task_name)
    wall = time.time() - started
    commands = "\n".join(f"    {c['command']}    # {c['seconds']:.0f} s" for c in log)
    text = (f"# Miniature DAPO reproduction (CPU), through the product\n\n"
            f"Held-out task `{HELD_OUT}` (arith test split: no operand tuple of the training split). "
            f"Checkpoints:\n\n```\n{checkpoint.strip()}\n```\n\n{body}\n"
            f"Produced by `python bench/miniature_dapo.py{' --train' if args.train else ''}` in {wall:.0f} s "
            f"on this machine; the commands it ran:\n\n{commands}\n\n"
            f"Plots: results/plots/scaling_{task_name}_<generator>.png, "
            f"results/plots/compare_{task_name}.png. "
            f"Cues: results/miniature_cues.md.\n")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    Path("bench/out").mkdir(parents=True, exist_ok=True)
    Path("bench/out/miniature.json").write_text(json.dumps({"commands": log, "wall_s": round(wall, 1),
                                                            "rows": rows}, indent=2, default=str))
    print(text)


if __name__ == "__main__":
    main()
