"""The `train` subcommand, contributed to `python -m harness` through the harness.commands entry point.

Protocol (harness/cli.py): the entry point names `add_train_command(subparsers)`, which adds the
subparser and returns the handler `(args, settings) -> int`; the harness CLI adds --data-dir and
--results-dir and passes the Settings it resolved from them.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_train_command(subparsers: argparse._SubParsersAction):
    """DAPO-train a GenSelect selector from graded pools (the trainers package)"""
    p = subparsers.add_parser("train", help="DAPO-train a GenSelect selector from graded pools "
                                            "(the trainers package)")
    p.add_argument("--config", required=True,
                   help="trainers/configs/<name>.yaml, or a bundled name (cpu-smoke)")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="RUN",
                   help="go on with an unfinished run of this config after a kill or preemption (the newest, "
                        "or the one named RUN under <results-dir>/checkpoints/.work), from its last "
                        "checkpoint (dapo.save_steps)")
    p.add_argument("--eval-on", metavar="TASK",
                   help="after training, evaluate rl-genselect with the new checkpoint on this task")
    p.add_argument("--eval-args", default="", metavar="FLAGS",
                   help="run flags for --eval-on, e.g. '--model smollm2-135m --n 1,4' (the flags of `run`)")
    return run_train_command


def eval_config(task: str, checkpoint: str, eval_args: str = ""):
    """The RunConfig of the post-training evaluation: rl-genselect judged by `checkpoint` on `task`,
    plus any `run` flags in `eval_args` (parsed with the flags generated from RunConfig)."""
    import shlex

    from harness.cli import add_config_flags, config_from_args
    from harness.config import RunConfig
    from harness.errors import ConfigError

    parser = argparse.ArgumentParser(prog="--eval-args", add_help=False, exit_on_error=False)
    add_config_flags(parser, RunConfig)
    try:
        args, unknown = parser.parse_known_args(shlex.split(eval_args))
    except (argparse.ArgumentError, ValueError) as exc:
        raise ConfigError(f"--eval-args: {exc}") from None
    if unknown:
        raise ConfigError(f"--eval-args: not a flag of `run`: {' '.join(unknown)}")
    fixed: dict[str, Any] = {"task": task, "selectors": ("rl-genselect",), "checkpoint": checkpoint}
    given = sorted(set(fixed) & set(vars(args)))
    if given:
        raise ConfigError(f"--eval-args: {', '.join(given)} are set by train itself "
                          "(--eval-on and the checkpoint)")
    return config_from_args(RunConfig, args, **fixed)


def run_train_command(args: argparse.Namespace, settings) -> int:
    from trainers.train import main as train_main

    if args.eval_on:  # validate the evaluation flags before hours of training, not after
        eval_config(args.eval_on, "<checkpoint>", args.eval_args)
    entry = train_main(args.config, settings=settings, eval_on=args.eval_on, resume=args.resume)
    print(f"registered checkpoint {entry['name']} at {entry['path']}")
    if args.eval_on:
        from harness.cli import format_outcome
        from harness.run import run

        outcome = run(eval_config(args.eval_on, entry["name"], args.eval_args), settings)
        print(format_outcome(outcome))
    return 0
