"""`python -m harness ...`: argument parsing only; every command calls the public Python API.

Heavy modules (numpy, pandas, matplotlib, math-verify, torch) are imported inside the command
functions so that `--help` and `list` answer quickly.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="local task data in the layout of shared/data (env HARNESS_DATA_DIR)")
    parser.add_argument("--results-dir", help="results tree (env HARNESS_RESULTS_DIR, default ./results)")


def _generation_args(parser: argparse.ArgumentParser, required: bool = False) -> None:
    g = parser.add_argument_group("generation")
    g.add_argument("--model", required=required, help="model preset (smollm2-135m, qwen3-1.7b, ...), hub id or path")
    g.add_argument("--backend", default="hf", help="generation backend (hf, vllm, openai, llamacpp)")
    g.add_argument("--samples", type=int, help="candidates per problem (default: the largest --n, or 8)")
    g.add_argument("--temperature", type=float)
    g.add_argument("--max-tokens", type=int)
    g.add_argument("--gen-seed", type=int, default=0)


def _settings(args):
    from harness.settings import Settings

    return Settings.resolve(data_dir=args.data_dir, results_dir=args.results_dir)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness",
                                     description="Best-of-N selection harness: pools, selectors, exact estimators.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="show every registered task, selector and backend")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("run", help="grade a pool, run selectors, write run records and the leaderboard")
    _common(p)
    p.add_argument("--task", required=True)
    p.add_argument("--selector", required=True, help="one selector or a comma list, e.g. first,majority,oracle")
    p.add_argument("--pool", help="pool name: <task>/<slug>[/<key>], slug, key prefix or path "
                                  "(or give --model to use/generate the pool of that model)")
    _generation_args(p)
    g = p.add_argument_group("LLM selectors (genselect, usc, rl-genselect)")
    g.add_argument("--judge-model", help="judge model (default: the generator; rl-genselect: newest checkpoint)")
    g.add_argument("--judge-backend", default="hf")
    g.add_argument("--judge-max-tokens", type=int)
    g.add_argument("--judge-temperature", type=float, default=0.6)
    g.add_argument("--llm-draws", type=int, default=4, help="selections per problem and N (subset mode)")
    g.add_argument("--window", type=int, default=8, help="candidates per judge prompt; more => knockout tournament")
    g.add_argument("--tournament-repeats", type=int, default=1,
                   help="knockouts per selection under random permutations, majority over winners (N > window)")
    p.add_argument("--n", help="candidate counts, e.g. 1,2,4,8 or 1-12 (default: powers of two up to the pool size)")
    p.add_argument("--paper", action="store_true", help="the paper protocol: fixed first N (default 8), fractional ties, mean over runs")
    p.add_argument("--paper-runs", type=int, default=8)
    p.add_argument("--draws", type=int, default=2000, help="random subsets per problem and N when no exact method applies")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tie-credit", choices=("fractional", "draw"), default="fractional",
                   help="fractional: expected credit over tied picks (exact); draw: one seeded pick")
    p.add_argument("--max-enumerate", type=int, default=5000)
    p.add_argument("--workers", type=int, default=0, help="grading processes (0 = all cores)")
    p.add_argument("--hub-id", help="override the task's hub dataset id (or a local dataset path)")
    p.add_argument("--limit", type=int, help="only the first K problems of the task")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser("compare", help="the same selectors on pools from several generators: one table, one plot")
    _common(p)
    p.add_argument("--task", required=True)
    p.add_argument("--pools", required=True, help="comma list of pools, e.g. math_l5/qwen2-5-7b-instruct,math_l5/gemma-2-9b-it")
    p.add_argument("--selectors", "--selector", dest="selectors", required=True)
    p.add_argument("--n", help="candidate counts (default: powers of two up to the smallest pool)")
    p.add_argument("--at", type=int, help="N shown in the table (default: the largest common N)")
    p.add_argument("--paper", action="store_true")
    p.add_argument("--draws", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--judge-model")
    p.add_argument("--judge-backend", default="hf")
    p.add_argument("--llm-draws", type=int, default=4)
    p.add_argument("--out", help="output PNG (default results/plots/compare_<task>.png)")
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("train", help="DAPO-train a GenSelect selector from graded pools (the trainers package)")
    _common(p)
    p.add_argument("--config", required=True, help="trainers/configs/<name>.yaml")
    p.add_argument("--eval-on", help="after training, evaluate rl-genselect with the new checkpoint on this task")
    p.add_argument("--eval-args", default="", help="extra run flags for --eval-on, e.g. '--model smollm2-135m --n 1,4'")

    p = sub.add_parser("generate", help="sample candidates into a pool (resumable; generates only what is missing)")
    _common(p)
    p.add_argument("--task", required=True)
    _generation_args(p, required=True)
    p.add_argument("--chunk", type=int, default=32, help="requests per append (what a kill can lose)")
    p.add_argument("--quiet", action="store_true")

    pool = sub.add_parser("pool", help="candidate pools: import, list")
    pool_sub = pool.add_subparsers(dest="pool_command", required=True)
    p = pool_sub.add_parser("import", help="import generations made elsewhere as a pool")
    _common(p)
    p.add_argument("--task", required=True)
    p.add_argument("files", nargs="+", help="JSONL files (our pool shape, NeMo-Skills output-rs*.jsonl, lm-eval samples)")
    p.add_argument("--format", default="auto", choices=("auto", "harness-jsonl", "nemo-skills", "lm-eval"))
    p.add_argument("--model", help="generator name to record (default: from the files)")
    p.add_argument("--label", help="pool label (default: the model name, or 'cross-model')")
    p.add_argument("--split-by-model", action="store_true", help="one pool per model instead of one cross-model pool")
    p = pool_sub.add_parser("list", help="list pools and their sizes")
    _common(p)
    p.add_argument("--task")

    p = sub.add_parser("leaderboard", help="write results/leaderboard.md and .csv, print the markdown")
    _common(p)
    p.add_argument("--n", type=int, help="show every run at this N (default: each run's largest N)")
    p.add_argument("--csv", action="store_true", help="print CSV instead of markdown")

    p = sub.add_parser("plot", help="accuracy-vs-N scaling plot (PNG) from run records")
    _common(p)
    p.add_argument("--task", required=True)
    p.add_argument("--pool", help="pool ref or generator label (needed when the task has several pools)")
    p.add_argument("--out", help="output PNG path (default results/plots/scaling_<task>_<generator>.png)")
    return parser


def cmd_list(args) -> int:
    from harness.plugins import REGISTRIES

    listing = {kind: [{"name": e.name, "target": e.target, "origin": e.origin, "summary": e.summary}
                      for e in registry.entries()] for kind, registry in REGISTRIES.items()}
    if args.json:
        print(json.dumps(listing, indent=2))
        return 0
    for kind, entries in listing.items():
        print(f"{kind}:")
        for e in entries or [{"name": "(none yet)", "summary": "", "origin": ""}]:
            origin = "" if e["origin"] in ("builtin", "") else f"  [{e['origin']}]"
            print(f"  {e['name']:<14} {e['summary']}{origin}")
    return 0


def cmd_run(args) -> int:
    from harness.config import RunConfig, parse_ns
    from harness.run import run

    config = RunConfig(task=args.task, selectors=tuple(s.strip() for s in args.selector.split(",") if s.strip()),
                       pool=args.pool, ns=parse_ns(args.n) if args.n else None, paper=args.paper,
                       paper_runs=args.paper_runs, draws=args.draws, seed=args.seed, tie_credit=args.tie_credit,
                       max_enumerate=args.max_enumerate, workers=args.workers, hub_id=args.hub_id,
                       limit=args.limit, model=args.model, backend=args.backend, samples=args.samples, temperature=args.temperature,
                       max_tokens=args.max_tokens, gen_seed=args.gen_seed, judge_model=args.judge_model,
                       judge_backend=args.judge_backend, judge_max_tokens=args.judge_max_tokens,
                       judge_temperature=args.judge_temperature, llm_draws=args.llm_draws, window=args.window,
                       tournament_repeats=args.tournament_repeats,
                       progress=not args.quiet and not args.json)
    outcome = run(config, _settings(args))
    if args.json:
        print(json.dumps(outcome.to_json(), indent=2))
    else:
        print(format_outcome(outcome))
    return 0


def format_outcome(outcome) -> str:
    lines = [f"task {outcome.records[0].task} | pool {outcome.pool.ref} | "
             f"graded {outcome.grading.graded} new, {outcome.grading.cached} cached, {outcome.grading.errors} errors",
             f"{'selector':<24} {'N':>4} {'accuracy':>9} {'95% CI':>15} {'method':>18}"]
    for record in outcome.records:
        name = record.selector + (" (upper bound)" if record.data["selector"]["upper_bound"] else "")
        for point in record.summary:
            method = ",".join(sorted(point["methods"]))
            lines.append(f"{name:<24} {point['n']:>4} {100 * point['accuracy']:>8.2f}% "
                         f"{100 * point['ci_low']:>6.1f}–{100 * point['ci_high']:<6.1f}  {method:>18}")
    lines.append(f"run records: {', '.join(str(r.path) for r in outcome.records)}")
    return "\n".join(lines)


def cmd_compare(args) -> int:
    from pathlib import Path

    from harness.compare import compare
    from harness.config import RunConfig, parse_ns

    pools = [p.strip() for p in args.pools.split(",") if p.strip()]
    base = RunConfig(task=args.task, selectors=tuple(s.strip() for s in args.selectors.split(",") if s.strip()),
                     pool=pools[0], ns=parse_ns(args.n) if args.n else None, paper=args.paper, draws=args.draws,
                     seed=args.seed, judge_model=args.judge_model, judge_backend=args.judge_backend,
                     llm_draws=args.llm_draws, progress=not args.quiet)
    result = compare(base, pools, _settings(args), n=args.at, out=Path(args.out) if args.out else None)
    print(result.table)
    print(f"plot: {result.plot}")
    return 0


def cmd_train(args) -> int:
    import shlex

    from trainers.train import main as train_main

    settings = _settings(args)
    entry = train_main(args.config, results_dir=str(settings.results_dir))
    print(f"registered checkpoint {entry['name']} at {entry['path']}")
    if args.eval_on:
        run_args = ["run", "--task", args.eval_on, "--selector", "rl-genselect", "--judge-model", entry["name"],
                    "--results-dir", str(settings.results_dir), *shlex.split(args.eval_args)]
        if args.data_dir:
            run_args += ["--data-dir", args.data_dir]
        return main(run_args)
    return 0


def cmd_generate(args) -> int:
    from harness.generate import GenerationConfig, generate_pool
    from harness.plugins import load_task
    from harness.pools import PoolStore

    settings = _settings(args)
    task = load_task(args.task, settings)
    config = GenerationConfig(model=args.model, backend=args.backend, n=args.samples or 8, seed=args.gen_seed,
                              temperature=args.temperature, max_tokens=args.max_tokens, chunk=args.chunk)
    report = generate_pool(task, config, PoolStore(settings.pools_dir), progress=not args.quiet)
    print(f"pool {report.pool.ref}: {report.generated} generated, {report.already_present} already present, "
          f"{report.truncated} truncated")
    return 0


def cmd_pool(args) -> int:
    from pathlib import Path

    from harness.plugins import load_task
    from harness.pools import PoolStore

    settings = _settings(args)
    store = PoolStore(settings.pools_dir)
    if args.pool_command == "list":
        for pool in store.all(args.task):
            sizes = pool.size()
            counts = sorted(set(sizes.values()))
            print(f"{pool.ref:<60} {pool.label:<28} problems={len(sizes)} candidates/problem={counts}")
        return 0
    from harness.pool_import import import_pool

    task = load_task(args.task, settings)
    report = import_pool(store, task, [Path(f) for f in args.files], args.format, model=args.model,
                         split_by_model=args.split_by_model, label=args.label)
    print(report.describe())
    return 0


def cmd_leaderboard(args) -> int:
    from harness.leaderboard import refresh_leaderboard

    md_path, csv_path = refresh_leaderboard(_settings(args), n=args.n)
    print((csv_path if args.csv else md_path).read_text(encoding="utf-8"))
    return 0


def cmd_plot(args) -> int:
    from pathlib import Path

    from harness.plots import plot_scaling

    path = plot_scaling(_settings(args), args.task, args.pool, Path(args.out) if args.out else None)
    print(path)
    return 0


COMMANDS = {"list": cmd_list, "run": cmd_run, "generate": cmd_generate, "compare": cmd_compare, "train": cmd_train, "pool": cmd_pool, "leaderboard": cmd_leaderboard, "plot": cmd_plot}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # user-facing errors: one clear line, not a traceback
        if _is_user_error(exc):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise


def _is_user_error(exc: Exception) -> bool:
    from harness.jsonl import JsonlFormatError
    from harness.pools import PoolError
    from harness.registry import UnknownPluginError
    from harness.task import TaskDataError

    user_errors = (UnknownPluginError, PoolError, TaskDataError, JsonlFormatError, FileNotFoundError)
    try:
        from pydantic import ValidationError

        user_errors += (ValidationError,)
    except ImportError:  # pragma: no cover
        pass
    from harness.plots import NothingToPlotError
    from harness.run import GraderFailureError

    return isinstance(exc, user_errors + (NothingToPlotError, GraderFailureError, ValueError))
