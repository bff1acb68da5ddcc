"""`python -m harness ...`: argument parsing only; every command calls the public Python API.

The `run` and `compare` flags are generated from the pydantic models in harness.config (name,
default and help come from the fields); a YAML file (`--config run.yaml`) and `HARNESS_<FIELD>`
environment variables fill what the flags leave out. Other packages add subcommands through the
`harness.commands` entry-point group: the entry point names `add(subparsers)`, which creates its
subparser and returns `handler(args, settings) -> int` (trainers contributes `train` this way).

Errors: a HarnessError (anything the user can fix) prints as `error: ...` and exits with 2;
every other exception is a defect and keeps its traceback. Heavy modules (numpy, pandas,
matplotlib, math-verify, torch) are imported inside the command functions so that `--help` and
`list` answer quickly.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Sequence

from harness.errors import HarnessError

Handler = Callable[[argparse.Namespace, Any], int]
METAVARS = {"ints": "N,...", "strs": "A,...", "int": "INT", "float": "X"}


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir",
                        help="local task data in the layout of shared/data (env HARNESS_DATA_DIR)")
    parser.add_argument("--results-dir", help="results tree (env HARNESS_RESULTS_DIR, default ./results)")
    parser.add_argument("--sandbox", choices=("auto", "strict", "none"),
                        help="isolation of generated code (env HARNESS_SANDBOX, default auto: the best the "
                             "host offers, refused if none; strict: fail unless fully isolated; none: run "
                             "untrusted code unisolated)")


def _generation_args(parser: argparse.ArgumentParser, required: bool = False) -> None:
    g = parser.add_argument_group("generation")
    g.add_argument("--model", required=required,
                   help="model preset (smollm2-135m, qwen3-1.7b, ...), hub id or path")
    g.add_argument("--backend", default="hf", help="generation backend (hf, vllm, openai, llamacpp)")
    g.add_argument("--samples", type=int, help="candidates per problem (default: the largest --n, or 8)")
    g.add_argument("--temperature", type=float)
    g.add_argument("--max-tokens", type=int)
    g.add_argument("--gen-seed", type=int, default=0)


def settings_from_args(args: argparse.Namespace):
    """The Settings of a command: --data-dir / --results-dir, else the environment."""
    from harness.settings import Settings

    return Settings.resolve(data_dir=getattr(args, "data_dir", None),
                            results_dir=getattr(args, "results_dir", None),
                            sandbox=getattr(args, "sandbox", None))


# -- flags generated from a config model -----------------------------------------------------------

def add_config_flags(parser: argparse.ArgumentParser, model) -> None:
    """One flag per field of `model` (harness.config.cli_fields), help and default from the field.

    Every flag defaults to "absent" (argparse.SUPPRESS), so the model's own defaults, a config
    file and HARNESS_<FIELD> variables apply to whatever the command line leaves out.
    """
    from harness.config import cli_fields, field_flags, field_kind

    groups: dict[str, argparse._ArgumentGroup] = {}
    for name in cli_fields(model):
        info = model.model_fields[name]
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        target: Any = parser
        if extra.get("group"):
            if extra["group"] not in groups:
                groups[extra["group"]] = parser.add_argument_group(extra["group"])
            target = groups[extra["group"]]
        kind, choices = field_kind(model, name)
        text = (info.description or "").replace("%", "%%")
        if info.is_required():
            text += " (required: a flag, the --config file or HARNESS_" + name.upper() + ")"
        elif kind != "bool" and info.default is not None:
            shown = ",".join(map(str, info.default)) if isinstance(info.default, tuple) else info.default
            text += f" (default: {shown})"
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": text}
        if kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
            kwargs["help"] = text + f" (default: {'on' if info.default else 'off'})"
        elif kind == "choice":
            kwargs["choices"] = list(choices)
        else:
            kwargs["metavar"] = METAVARS.get(kind, "TEXT")
        target.add_argument(*field_flags(model, name), **kwargs)
    parser.add_argument("--config", dest="config_file", metavar="FILE",
                        help="YAML file of field values (keys as the flags, e.g. draws: 500); flags "
                             "override it, and HARNESS_<FIELD> environment variables override the file")


def config_from_args(model, args: argparse.Namespace, **overrides: Any):
    """The config of a command: the flags given > HARNESS_<FIELD> > --config file > defaults."""
    from harness.config import cli_fields, load_config, parse_text

    values: dict[str, Any] = {}
    for name in cli_fields(model):
        if name in vars(args):
            value = getattr(args, name)
            values[name] = parse_text(model, name, value) if isinstance(value, str) else value
    values.update(overrides)
    return load_config(model, values, config_file=getattr(args, "config_file", None))


# -- the parser ------------------------------------------------------------------------------------

def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
    """The argument parser and the handler of each command (built-ins and harness.commands)."""
    from harness.config import CompareConfig, RunConfig

    parser = argparse.ArgumentParser(prog="python -m harness",
                                     description="Best-of-N selection harness: pools, selectors, "
                                                 "exact estimators.")
    sub = parser.add_subparsers(dest="command", required=True)
    handlers: dict[str, Handler] = {}

    p = sub.add_parser("list", help="show every registered task, selector, backend and command")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("run", help="grade a pool, run selectors, write run records and the leaderboard",
                       description="Grade a pool (or generate one with --model), run the selectors at "
                                   "each N, write run records and refresh the leaderboard.")
    _common(p)
    add_config_flags(p, RunConfig)
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser("compare",
                       help="the same selectors on pools from several generators: one table, one plot")
    _common(p)
    add_config_flags(p, CompareConfig)
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser("generate",
                       help="sample candidates into a pool (resumable; generates only what is missing)")
    _common(p)
    p.add_argument("--task", required=True)
    _generation_args(p, required=True)
    p.add_argument("--chunk", type=int, default=32, help="requests per append (what a kill can lose)")
    p.add_argument("--shard", metavar="I/K",
                   help="generate only shard I of K of the problems (0-based; e.g. $SLURM_ARRAY_TASK_ID/8) "
                        "into a file of its own; `pool merge` folds the shards together")
    p.add_argument("--quiet", action="store_true")

    pool = sub.add_parser("pool", help="candidate pools: import, list")
    pool_sub = pool.add_subparsers(dest="pool_command", required=True)
    p = pool_sub.add_parser("import", help="import generations made elsewhere as a pool")
    _common(p)
    p.add_argument("--task", required=True)
    p.add_argument("files", nargs="+",
                   help="JSONL files (our pool shape, NeMo-Skills output-rs*.jsonl, lm-eval samples)")
    p.add_argument("--format", default="auto", choices=("auto", "harness-jsonl", "nemo-skills", "lm-eval"))
    p.add_argument("--model", help="generator name to record (default: from the files)")
    p.add_argument("--label", help="pool label (default: the model name, or 'cross-model')")
    p.add_argument("--split-by-model", action="store_true",
                   help="one pool per model instead of one cross-model pool")
    p = pool_sub.add_parser("list", help="list pools and their sizes")
    _common(p)
    p.add_argument("--task")
    p = pool_sub.add_parser("merge", help="fold a pool's shard files (generate --shard) into its "
                                          "candidates.jsonl")
    _common(p)
    p.add_argument("--task", required=True)
    p.add_argument("--pool", required=True, help="pool ref or generator label")

    p = sub.add_parser("leaderboard", help="write results/leaderboard.md and .csv, print the markdown")
    _common(p)
    p.add_argument("--n", type=int, help="show every run at this N (default: each run's largest N)")
    p.add_argument("--csv", action="store_true", help="print CSV instead of markdown")

    p = sub.add_parser("plot", help="accuracy-vs-N scaling plot (PNG) from run records")
    _common(p)
    p.add_argument("--task", required=True)
    p.add_argument("--pool", help="pool ref or generator label (needed when the task has several pools)")
    p.add_argument("--out", help="output PNG path (default results/plots/scaling_<task>_<generator>.png)")
    p.add_argument("--cost", action="store_true",
                   help="compute-matched: accuracy against tokens per problem (generation + selection), "
                        "results/plots/compute_<task>_<generator>.png")

    p = sub.add_parser("export", help="write a run in another tool's format (nemo-skills: output-rs*.jsonl)")
    _common(p)
    p.add_argument("--format", required=True, choices=("nemo-skills",))
    p.add_argument("--run", required=True,
                   help="a run folder, its run id, or a unique prefix of its folder name")
    p.add_argument("--out", required=True, help="output folder (e.g. <dir>/eval-results/<benchmark>)")

    p = sub.add_parser("cues", help="which surface cues an LLM judge follows (position, length, agreement), "
                                    "from runs' selections.jsonl")
    _common(p)
    p.add_argument("--run", action="append", required=True,
                   help="a run folder, run id or unique folder prefix (repeat for several)")
    p.add_argument("--out", help="markdown file to write (default: print only)")
    p.add_argument("--title", default="What the judges follow")

    p = sub.add_parser("checkpoints", help="trained selector checkpoints: list them, or ship one")
    _common(p)
    p.add_argument("--ship", metavar="NAME",
                   help="copy this checkpoint (adapter + training record) to results/shipped/NAME/")
    p.add_argument("--to", help="where to ship it (default: <results-dir>/shipped)")

    handlers.update({"list": cmd_list, "run": cmd_run, "generate": cmd_generate, "compare": cmd_compare,
                     "pool": cmd_pool, "leaderboard": cmd_leaderboard, "plot": cmd_plot,
                     "export": cmd_export, "checkpoints": cmd_checkpoints, "cues": cmd_cues})
    _add_plugin_commands(sub, handlers)
    return parser, handlers


def _add_plugin_commands(sub: argparse._SubParsersAction, handlers: dict[str, Handler]) -> None:
    """Subcommands from the harness.commands entry points (e.g. trainers' `train`)."""
    from harness.plugins import COMMANDS

    for name in COMMANDS.names():
        if name in handlers:
            continue  # a plugin cannot replace a built-in command
        try:
            add = COMMANDS.get(name)
        except (ImportError, HarnessError) as exc:  # a broken plugin must not take the whole CLI down
            print(f"warning: command {name!r} is unavailable: {exc}", file=sys.stderr)
            continue
        handler = add(sub)
        if name not in sub.choices:
            raise HarnessError(f"command plugin {name!r} did not add a subparser named {name!r}")
        _common(sub.choices[name])
        handlers[name] = handler


# -- commands ---------------------------------------------------------------------------------------

def cmd_list(args, settings=None) -> int:
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


def cmd_run(args, settings) -> int:
    from harness.config import RunConfig
    from harness.run import run

    quiet = {"progress": False} if args.quiet or args.json else {}
    config = config_from_args(RunConfig, args, **quiet)
    outcome = run(config, settings)
    if args.json:
        print(json.dumps(outcome.to_json(), indent=2))
    else:
        print(format_outcome(outcome))
    return 0


def format_outcome(outcome) -> str:
    grading = outcome.grading
    lines = [(f"task {outcome.records[0].task} | pool {outcome.pool.ref} | "
              f"graded {grading.graded} new, {grading.cached} cached, {grading.errors} errors"),
             f"{'selector':<24} {'N':>4} {'accuracy':>9} {'95% CI':>15} {'method':>18}"]
    for record in outcome.records:
        name = record.info.selector.label()
        for point in record.summary:
            method = ",".join(sorted(point.methods))
            lines.append(f"{name:<24} {point.n:>4} {100 * point.accuracy:>8.2f}% "
                         f"{100 * point.ci_low:>6.1f}–{100 * point.ci_high:<6.1f}  {method:>18}")
    lines.append(f"run records: {', '.join(str(r.path) for r in outcome.records)}")
    return "\n".join(lines)


def cmd_compare(args, settings) -> int:
    from harness.compare import compare
    from harness.config import CompareConfig

    config = config_from_args(CompareConfig, args, **({"progress": False} if args.quiet else {}))
    result = compare(config, settings)
    print(result.table)
    print(f"plot: {result.plot}")
    return 0


def cmd_generate(args, settings) -> int:
    from harness.generate import GenerationConfig, generate_pool
    from harness.plugins import load_task
    from harness.pools import PoolStore
    from harness.shards import Shard

    task = load_task(args.task, settings)
    config = GenerationConfig(model=args.model, backend=args.backend, n=args.samples or 8, seed=args.gen_seed,
                              temperature=args.temperature, max_tokens=args.max_tokens, chunk=args.chunk)
    shard = Shard.parse(args.shard)
    report = generate_pool(task, config, PoolStore(settings.pools_dir), progress=not args.quiet, shard=shard)
    where = f" (shard {shard.index}/{shard.count})" if shard else ""
    print(f"pool {report.pool.ref}{where}: {report.generated} generated, {report.already_present} already "
          f"present, {report.truncated} truncated")
    return 0


def cmd_pool(args, settings) -> int:
    from pathlib import Path

    from harness.plugins import load_task
    from harness.pools import PoolStore

    store = PoolStore(settings.pools_dir)
    if args.pool_command == "list":
        for pool in store.all(args.task):
            sizes = pool.size()
            counts = sorted(set(sizes.values()))
            print(f"{pool.ref:<60} {pool.label:<28} problems={len(sizes)} candidates/problem={counts}")
        return 0
    if args.pool_command == "merge":
        pool = store.resolve(args.pool, task=load_task(args.task, settings).name)
        moved, duplicates = pool.merge_shards()
        print(f"pool {pool.ref}: {moved} candidates merged from its shard files, "
              f"{duplicates} duplicates dropped")
        return 0
    from harness.pool_import import import_pool

    task = load_task(args.task, settings)
    report = import_pool(store, task, [Path(f) for f in args.files], args.format, model=args.model,
                         split_by_model=args.split_by_model, label=args.label)
    print(report.describe())
    return 0


def cmd_leaderboard(args, settings) -> int:
    from harness.leaderboard import refresh_leaderboard

    md_path, csv_path = refresh_leaderboard(settings, n=args.n)
    print((csv_path if args.csv else md_path).read_text(encoding="utf-8"))
    return 0


def task_name(spec: str, settings) -> str:
    """The name run records carry for a task given with arguments (arith:level=mixed,n=120 ->
    arith-mixed-test-n120-s0); the spec itself when it names no registered task."""
    from harness.plugins import load_task
    from harness.registry import UnknownPluginError

    try:
        return load_task(spec, settings).name
    except UnknownPluginError:
        return spec


def cmd_plot(args, settings) -> int:
    from pathlib import Path

    from harness.plots import plot_compute, plot_scaling

    out = Path(args.out) if args.out else None
    draw = plot_compute if args.cost else plot_scaling
    path = draw(settings, task_name(args.task, settings), args.pool, out)
    print(path)
    return 0


def cmd_export(args, settings) -> int:
    from pathlib import Path

    from harness.exports.nemo_skills import export_nemo_skills
    from harness.store import find_run

    export = export_nemo_skills(find_run(settings.runs_dir, args.run), settings, Path(args.out))
    print(f"{len(export.files)} files in {export.folder}" +
          (f"; GenSelect runs: {len(export.genselect_files)} files in {export.folder / 'genselect'}"
           if export.genselect_files else ""))
    return 0


def cmd_cues(args, settings) -> int:
    from pathlib import Path

    from harness.cues import analyze_run, write_cue_report
    from harness.store import find_run

    reports = [analyze_run(find_run(settings.runs_dir, ref), settings) for ref in args.run]
    for report in reports:
        print(report.markdown())
    if args.out:
        print(write_cue_report(reports, Path(args.out), args.title))
    return 0


def cmd_checkpoints(args, settings) -> int:
    from harness.checkpoints import list_checkpoints, resolve_checkpoint, ship_checkpoint, shipped_checkpoints

    if args.ship:
        target = ship_checkpoint(settings.results_dir, args.ship, args.to)
        print(f"shipped {args.ship} -> {target}")
        return 0
    entries = list_checkpoints(settings.results_dir) + shipped_checkpoints(settings.results_dir)
    if not entries:
        print("no checkpoint: train one (python -m harness train --config cpu-miniature)")
        return 0
    chosen = resolve_checkpoint(settings.results_dir)
    for e in sorted(entries, key=lambda e: e.get("created_unix", 0)):
        mark = "*" if (e["name"], e["path"]) == (chosen["name"], chosen["path"]) else " "
        kind = "shipped" if e.get("shipped") else "local"
        print(f"{mark} {e['name']}  {kind}  base={e.get('base_model')}  steps={e.get('steps')}  {e['path']}")
    print("(* = what rl-genselect uses without --checkpoint)")
    return 0


def print_error(exc: BaseException, stream=None) -> None:
    """`error: <first line>`, further lines of the message indented under it."""
    stream = stream or sys.stderr
    lines = str(exc).splitlines() or [type(exc).__name__]
    print(f"error: {lines[0]}", file=stream)
    for line in lines[1:]:
        print(f"       {line}", file=stream)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser, handlers = build_parser()
        args = parser.parse_args(argv)
        settings = settings_from_args(args) if args.command != "list" else None
        return handlers[args.command](args, settings)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `python -m harness list | head`: the reader left; not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except HarnessError as exc:  # something the user can fix: one clear line, no traceback
        print_error(exc)
        return 2
