"""Miniature reproduction of the paper's claim on CPU: DAPO-trained selection beats prompting.

    python bench/miniature_dapo.py                  # full: cpu-miniature (warm-up + 60 min of DAPO)
    python bench/miniature_dapo.py --tiny           # end-to-end plumbing check (not a result)
    python bench/miniature_dapo.py --checkpoint results/checkpoints/<name>   # evaluate only

Wall time on 2 CPU cores (fp32), measured: 80.6 min in all. The pools take ~15 min when not
cached (here they were). The format warm-up took 5.8 min. DAPO stopped at its 60-minute budget
after 49 steps (4 tasks x 8 rollouts of up to 16 tokens, 60-100 s a step). Judging 205 held-out
tasks x 2 samples with three judges took ~14 min. Pools, grades and the selection data are
cached under --results-dir, so a rerun only retrains and re-judges.

1. Pools of the embedded SmolLM2-135M on arith TRAIN problems (harness.generate), graded.
2. Selection tasks with the paper's filters (each set in all its rotations); the format warm-up and
   DAPO training with trainers/configs/cpu-miniature.yaml (trainers.train.main: the checkpoint is
   registered in results/checkpoints/).
3. Held-out evaluation: pools on arith TEST problems (disjoint operands by construction), selection
   tasks built with the same builder and options, and on each task:
     random     the `random` selector: |correct| / k (exact)
     majority   the `majority` selector (answer clusters, ties fractional; abstains with no answer)
     oracle     the `oracle` selector: 1 by construction (every task holds a correct candidate)
     prompted   GenSelect with the untrained base model as judge
     warm-up    the format cold start alone (random labels): the control for what DAPO added
     trained    GenSelect with the DAPO checkpoint as judge (what rl-genselect runs)
   Every number goes through the selector protocol (harness.evaluate.score_sets, the same
   selectors and judge path as `python -m harness run`); judge calls are cached in results/judge.
   LLM judges: `--samples` draws per task (temperature 0.6, the selector's default); a parse
   failure falls back to a random candidate, scored as its expectation, and is counted.
   Per-problem means -> 95% bootstrap CIs over problems (harness.estimators.bootstrap_ci), plus
   the paired differences trained - prompted / warm-up / majority / random.
4. A markdown table in results/miniature.md (and the raw numbers in results/miniature.json).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from harness.estimators import bootstrap_ci, paired_difference
from harness.evaluate import EvalOptions, score_sets
from harness.jsonl import write_json_atomic
from harness.run import build_problem_pools
from harness.selectors.genselect import GenSelect
from harness.selectors.simple import Oracle, Random
from harness.selectors.voting import Majority
from harness.settings import Settings
from trainers.selection_data import BuildOptions, build_selection_tasks
from trainers.tasks_schema import SelectionTask
from trainers.train import load_config, prepare_sources, token_counter
from trainers.train import main as train_main

TINY = {  # a few minutes end to end: proves every stage runs
    "data": {"pools": [{"task": "arith:level=single,n=16,split=train,seed=0",
                        "generate": {"model": "smollm2-135m", "backend": "hf", "n": 8, "max_tokens": 24,
                                     "seed": 0, "backend_options": {"batch_size": 16}}}]},
    "warmup": {"examples": 16, "check_prompts": 4},
    "dapo": {"max_steps": 1, "num_generations": 4, "per_device_train_batch_size": 8,
             "dynamic_sampling": {"max_num_gen_batches": 2}},
}


def judge(model: str, budget: int, inputs, sets, samples: int, opts, settings,
          batch_size: int) -> dict:
    """One judge on every held-out set, `samples` judgments each, through the selector protocol:
    GenSelect with the training prompt (same prompt version and view cap), the judge cache, one
    batched pass. A parse failure is the selector's random fallback, scored as its expectation."""
    from harness.judging import Judging

    selector = GenSelect(judge_model=model, max_tokens=budget, prompt_version=opts.prompt_version,
                         max_chars=opts.max_chars, backend_options={"batch_size": batch_size})
    pools, correct, options = inputs
    judging = Judging(settings.results_dir / "judge")
    try:
        scored = score_sets([selector], pools, correct, [s for s in sets for _ in range(samples)], options,
                            judging)
    finally:
        judging.close()
    result = scored[selector.name]
    stats = result.judge
    credit = result.credit.reshape(len(sets), samples)
    first_calls = [row.calls[0] if row is not None and row.calls else None for row in result.selections]
    return {"values": credit.mean(axis=1).tolist(),
            "parse_rate": 1.0 - stats.parse_failure_rate if stats.windows_judged else None,
            "judge_calls": stats.calls, "cached": stats.cached,
            "examples": [c.raw for c in first_calls[:3 * samples:samples] if c is not None],
            "choices": [[c.parsed if c is not None else None
                         for c in first_calls[k * samples:(k + 1) * samples]]
                        for k in range(len(sets))]}


def per_problem(tasks: list[SelectionTask], values: list[float]) -> np.ndarray:
    by_problem: dict[str, list[float]] = {}
    for t, v in zip(tasks, values):
        by_problem.setdefault(t.problem_id, []).append(v)
    return np.array([np.mean(by_problem[p]) for p in sorted(by_problem)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a few-minute end-to-end run (not a result)")
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--config", default="trainers/configs/cpu-miniature.yaml")
    parser.add_argument("--test-problems", type=int, default=36,
                        help="arith level=single test problems (max 36)")
    parser.add_argument("--samples", type=int, default=2, help="judgments per task and judge")
    parser.add_argument("--eval-sets", type=int, default=4,
                        help="candidate sets per test problem "
                             "(each in all rotations when the config rotates)")
    parser.add_argument("--checkpoint", help="evaluate this checkpoint folder instead of training")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--prompted-max-tokens", type=int, default=32,
                        help="reply budget of the untrained judge (it explains before its verdict)")
    args = parser.parse_args()
    if args.tiny:
        args.test_problems, args.samples = min(args.test_problems, 8), 1
    started = time.time()
    settings = Settings.resolve(results_dir=args.results_dir)
    overrides = TINY if args.tiny else None
    cfg = load_config(args.config, overrides)

    # 1-2. pools on TRAIN problems, selection tasks, DAPO, registration
    if args.checkpoint:
        entry = {"name": Path(args.checkpoint).name, "path": args.checkpoint, "steps": None, "metrics": {}}
    else:
        entry = train_main(args.config, results_dir=args.results_dir, overrides=overrides, progress=True)
    train_seconds = time.time() - started

    # 3. held-out selection tasks from TEST problems (same builder and options; the guard is
    #    bypassed on purpose: these are evaluation tasks, never training data)
    test_cfg = {"pools": [{**cfg["data"]["pools"][0],
                           "task": f"arith:level=single,n={args.test_problems},split=test,seed=0"}]}
    from harness.plugins import load_task

    task = load_task(test_cfg["pools"][0]["task"], settings)
    assert all(p.metadata["split"] == "test" for p in task.problems())
    sources = prepare_sources(test_cfg, settings, _NoGuard(), progress=True)
    opts = BuildOptions.from_dict({**(cfg["data"].get("build") or {}), "tasks_per_problem": args.eval_sets})
    count, _ = token_counter(cfg["data"], cfg["base_model"])
    tasks, stats = build_selection_tasks(sources, opts, count_tokens=count, allow_eval=True)
    if not tasks:
        raise SystemExit(f"no held-out selection task survived the filters: {stats.to_json()}")
    max_tokens = int(entry.get("max_tokens") or cfg["dapo"]["max_completion_length"])

    # Every number below goes through the selector protocol (harness.evaluate.score_sets): the
    # same Random, Majority and Oracle selectors as `python -m harness run`, and GenSelect judges.
    source = sources[0]
    problems = [p for p in source.task.problems() if p.id in source.candidates]
    pools, correct = build_problem_pools(problems, source.candidates, source.grades, source.task.kind)
    where = {p.id: i for i, p in enumerate(problems)}
    position = {p.id: {c.index: k for k, c in enumerate(source.candidates[p.id])} for p in problems}
    sets = [(where[t.problem_id], [position[t.problem_id][i] for i in t.shown_indices]) for t in tasks]
    options = EvalOptions(progress=False)
    baselines = score_sets([Random(), Majority(), Oracle()], pools, correct, sets, options)
    rows: dict[str, dict] = {name: {"values": baselines[name].credit.tolist()}
                             for name in ("random", "majority", "oracle")}
    judges = [("GenSelect prompted (base SmolLM2-135M)", "smollm2-135m",
               max(max_tokens, args.prompted_max_tokens))]
    warm = Path(entry["path"]) / "format-warmup"
    if warm.is_dir():  # the control: format cold start alone (uniform random labels), before DAPO
        judges.append(("format warm-up only (before DAPO)", str(warm), max_tokens))
    judges.append((f"GenSelect DAPO-trained ({entry['name']})", entry["path"], max_tokens))
    for label, model, budget in judges:
        rows[label] = judge(model, budget, (pools, correct, options), sets, args.samples, opts,
                            settings, args.batch_size)

    table = []
    per = {}
    for label, row in rows.items():
        values = per_problem(tasks, row["values"])
        per[label] = values
        ci = bootstrap_ci(values, resamples=10_000, seed=0)
        table.append((label, ci.mean, ci.low, ci.high, row.get("parse_rate")))
    trained, prompted = judges[-1][0], judges[0][0]
    contrasts = [("prompted", prompted), ("majority", "majority"), ("random", "random")]
    if len(judges) == 3:
        contrasts.insert(1, ("format warm-up only", judges[1][0]))
    diffs = {name: paired_difference(per[trained], per[label], seed=0) for name, label in contrasts}

    # 4. report
    n_problems = len(per["random"])
    lines = ["# Miniature DAPO reproduction (CPU)", "",
             f"Generator and judge: embedded SmolLM2-135M-Instruct (fp32, CPU). Training: `{args.config}`"
             + (" with the --tiny overrides (a plumbing check, not a result)" if args.tiny else "")
             + f"; checkpoint `{entry['name']}`, {entry.get('steps')} DAPO steps.",
             f"Held-out: {len(tasks)} selection tasks from {n_problems} arith test-split problems "
             + (f"(up to {args.eval_sets} candidate sets each, every set in all its rotations) "
                if opts.rotate_positions else "")
             + f"(level=single; operands disjoint from training), {args.samples} judgment(s) per task and "
             f"judge, judge max_tokens {max_tokens} (prompted judge {judges[0][2]}), temperature 0.6. "
             f"Builder stats: {json.dumps(stats.to_json())}.", "",
             "| selector | accuracy | 95% CI (bootstrap over problems) | judgment parse rate |",
             "|---|---|---|---|"]
    for label, mean, low, high, parse in table:
        lines.append(f"| {label} | {mean:.3f} | [{low:.3f}, {high:.3f}] | "
                     f"{'-' if parse is None else f'{parse:.2f}'} |")
    lines += [""] + [f"Trained - {name} (paired over problems): {d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}], "
                     f"P(trained better) = {d.p_a_better:.2f}." for name, d in diffs.items()] + [
              "",
              "Oracle is 1 by construction (every task holds a correct candidate); random is |correct|/k; "
              "a parse failure counts as a random pick.",
              f"Wall time: {time.time() - started:.0f} s (training stage {train_seconds:.0f} s).", ""]
    out_md = Path(args.results_dir) / "miniature.md"
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text("\n".join(lines), encoding="utf-8")
    write_json_atomic(Path(args.results_dir) / "miniature.json", {
        "checkpoint": entry, "tasks": len(tasks), "problems": n_problems, "samples": args.samples,
        "tiny": args.tiny,
        "table": [{"selector": s, "accuracy": m, "ci": [lo, hi], "parse_rate": p}
                  for s, m, lo, hi, p in table],
        "paired_trained_minus": {name: d.__dict__ for name, d in diffs.items()},
        "examples": {k: v.get("examples") for k, v in rows.items()},
        "seconds": time.time() - started,
        # a JSON report takes plain dicts: the task's fields are model_dump-ed here, at the boundary
        "per_task": [{**t.model_dump(mode="json", include={"task_id", "problem_id", "shown_indices",
                                                           "correct_positions"}),
                      "choices": {label: rows[label]["choices"][i] for label, _, _ in judges}}
                     for i, t in enumerate(tasks)]})
    print("\n".join(lines))


class _NoGuard:
    """Held-out evaluation pools are test-split on purpose: skip the training-data refusal."""

    def check(self, problems) -> None:
        return None


if __name__ == "__main__":
    main()
