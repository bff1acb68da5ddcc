"""`python -m harness train --config FILE`: selection data -> DAPO -> checkpoint -> registry.

A config (YAML, see trainers/configs/) has four sections:

    name: cpu-smoke                # checkpoint name prefix
    base_model: smollm2-135m       # preset name, hub id or local folder
    data:
      dataset: null                # a prebuilt selection-task JSONL, or build from pools:
      pools:
        - task: "arith:level=mul1,n=12,split=train"
          generate: {model: smollm2-135m, n: 8, max_tokens: 24, seed: 0}   # or pool: <ref|path>
      build: {max_pass_rate: 0.5, max_candidates: 16, tasks_per_problem: 4, max_prompt_tokens: 16384}
      eval_tasks: [aime24, aime25, hmmt25, livecodebench]                  # refused as training data
    warmup: {enable: false, ...}   # optional format cold start (trainers/format_warmup.py)
    dapo: {...}                    # trainers.dapo_config.DapoSection: every key and its default

The schema is trainers/config.py (typed; an unknown key at any depth is refused by its dotted path).

Steps: check the pools' problems against the evaluation tasks (before generating anything),
build or reuse the pools, grade them (cached), build the selection tasks (written as JSONL
under results/selection/), train, save model + tokenizer + curves under
results/checkpoints/<name>/, and register the checkpoint (base model, data path and hash, steps,
config hash, metrics, judge max_tokens) so `--selector rl-genselect` resolves it. `steps` are
rollout steps (dapo.max_steps counts them, as verl and DAPO do); `optimizer_steps` and
`step_plan` record what TRL ran for them (trainers.dapo_config.step_plan).
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any, Mapping

from harness.errors import ConfigError
from harness.types import stable_hash

CONFIG_DIR = Path(__file__).parent / "configs"


class TrainConfigError(ConfigError, ValueError):
    """A training config that cannot run (unknown keys, missing sections, bad values)."""


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in (override or {}).items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve_config_path(path: str | Path) -> Path:
    """A file path, or the name of a bundled config (`cpu-smoke` -> trainers/configs/cpu-smoke.yaml)."""
    p = Path(path)
    if p.is_file():
        return p
    bundled = CONFIG_DIR / (p.name if p.suffix else f"{p.name}.yaml")
    if bundled.is_file():
        return bundled
    known = ", ".join(sorted(f.stem for f in CONFIG_DIR.glob("*.yaml")))
    raise TrainConfigError(f"no training config at {path}; bundled configs: {known}")


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The validated config as a dict: the keys the file gives, `dapo` complete with defaults.

    Validation is trainers.config.TrainConfig: a typo anywhere (`dapo.dynamic_sampling.enabel`)
    is a TrainConfigError naming the dotted key and the valid keys at that level.
    """
    from harness.config import read_yaml_mapping
    from trainers.config import validate_train_config

    source = resolve_config_path(path)
    raw = read_yaml_mapping(source, str(source), TrainConfigError)
    typed = validate_train_config(deep_merge(raw, overrides or {}), str(source))
    cfg = typed.model_dump(exclude_unset=True)
    cfg["dapo"] = typed.dapo.model_dump()
    cfg["_source"] = str(source)
    return cfg


def config_hash(cfg: Mapping[str, Any]) -> str:
    return stable_hash({k: v for k, v in cfg.items() if not k.startswith("_")}, 16)


# -- data ---------------------------------------------------------------------------------------

def _generation_config(gen: Mapping[str, Any]):
    from harness.generate import GenerationConfig

    options = dict(gen)
    backend_options = tuple(sorted((options.pop("backend_options", None) or {}).items()))
    return GenerationConfig(backend_options=backend_options, **options)


def prepare_sources(data: Mapping[str, Any], settings, guard, *, progress: bool = False):
    """Load each pool's task, refuse evaluation problems, then generate/load and grade the pools."""
    from harness.generate import generate_pool
    from harness.grades import load_or_grade
    from harness.plugins import load_task
    from harness.pools import PoolStore
    from trainers.selection_data import PoolSource

    store = PoolStore(settings.pools_dir)
    sources = []
    for i, entry in enumerate(data.get("pools") or []):
        if "task" not in entry or ("generate" in entry) == ("pool" in entry):
            raise TrainConfigError(f"data.pools[{i}] needs `task` and exactly one of `generate` or `pool`")
        task = load_task(entry["task"], settings)
        problems = task.problems()
        limit = entry.get("limit")
        if limit:
            problems = problems[: int(limit)]
        guard.check(problems)  # before any generation: refuse evaluation problems up front
        if "generate" in entry:
            report = generate_pool(task, _generation_config(entry["generate"]), store, problems=problems,
                                   progress=progress)
            pool = report.pool
        else:
            pool = store.resolve(str(entry["pool"]))
        wanted = {p.id for p in problems}
        candidates = {pid: c for pid, c in pool.candidates().items() if pid in wanted}
        graded_problems = [p for p in problems if p.id in candidates]
        grades, _ = load_or_grade(pool, task.grader(), graded_problems, task.references(), candidates,
                                  progress=progress)
        sources.append(PoolSource(pool=pool, task=task, candidates=candidates, grades=grades))
    return sources


def token_counter(data: Mapping[str, Any], base_model: str):
    from trainers.selection_data import chars_token_counter, tokenizer_counter

    if data.get("token_counter", "judge") == "chars":
        return chars_token_counter, "chars/4"
    try:
        from transformers import AutoTokenizer

        from harness.models import materialize

        return (tokenizer_counter(AutoTokenizer.from_pretrained(materialize(base_model))),
                f"tokenizer:{base_model}")
    except Exception as exc:  # no tokenizer here (e.g. a hub model offline): the estimate is documented
        print(f"[train] judge tokenizer unavailable ({type(exc).__name__}); counting prompt tokens as "
              "chars/4")
        return chars_token_counter, "chars/4"


def build_dataset(cfg: Mapping[str, Any], settings, *, progress: bool = False) -> tuple[Path, dict[str, Any]]:
    """The selection-task JSONL for this config (built from pools, or the given file)."""
    from trainers.eval_guard import EvalGuard
    from trainers.selection_data import (
        BUILDER_VERSION,
        BuildOptions,
        build_selection_tasks,
        read_dataset,
        write_dataset,
    )

    data = cfg["data"]
    eval_tasks = tuple(data.get("eval_tasks") or ("aime24", "aime25", "hmmt25", "livecodebench"))
    guard = EvalGuard.load(settings, eval_tasks)
    if guard.unavailable:
        print("[train] WARNING: could not load evaluation task(s) to check overlap: "
              + "; ".join(f"{k} ({v})" for k, v in guard.unavailable.items())
              + ". Set HARNESS_DATA_DIR to the benchmark data to check them.")
    if data.get("dataset"):
        path = Path(data["dataset"])
        header, prebuilt = read_dataset(path)
        # A prebuilt file is checked too, by problem id (its records carry no statements).
        from harness.types import Problem

        guard.check(Problem(t.problem_id, t.task, "", {}) for t in prebuilt)
        return path, {"tasks": len(prebuilt), "prebuilt": True, "eval_guard": guard.describe(), **header}
    opts = BuildOptions.from_dict(data.get("build"))
    sources = prepare_sources(data, settings, guard, progress=progress)
    count, counter_name = token_counter(data, cfg["base_model"])
    tasks, stats = build_selection_tasks(sources, opts, count_tokens=count, guard=guard)
    if not tasks:
        raise TrainConfigError(f"no selection task survived the filters: {stats.to_json()}")
    key = stable_hash({"build": opts.__dict__, "pools": [s.pool.key for s in sources],
                       "counter": counter_name, "builder": BUILDER_VERSION}, 12)
    path = settings.results_dir / "selection" / f"{cfg['name']}-{key}.jsonl"
    header = {"pools": [s.pool.ref for s in sources], "options": opts.__dict__, "stats": stats.to_json(),
              "token_counter": counter_name, "eval_guard": guard.describe()}
    write_dataset(path, tasks, header)
    print(f"[train] {len(tasks)} selection tasks from {stats.kept_problems} of {stats.problems} "
          f"problems -> {path}")
    return path, {"tasks": len(tasks), **header}


# -- curves --------------------------------------------------------------------------------------

def write_curves(folder: Path, sampling: list[dict[str, Any]],
                 log_history: list[dict[str, Any]], updates_per_rollout: int = 1) -> dict[str, str]:
    """curves.json (+ png): one row per rollout step. Sampling rows are numbered by rollout step;
    TRL's log rows by optimizer step, mapped to the rollout step they belong to (TRL logs once
    per rollout step: logging_steps is converted like max_steps, see trainers.dapo_config)."""
    from harness.jsonl import write_json_atomic

    updates = max(1, int(updates_per_rollout))
    steps: dict[int, dict[str, Any]] = {}
    for row in sampling:
        steps.setdefault(int(row["step"]), {}).update({k: v for k, v in row.items() if k != "step"})
    for row in log_history:
        if "step" in row and "loss" in row:
            steps.setdefault(-(-int(row["step"]) // updates), {}).update(
                {k: row[k] for k in ("loss", "learning_rate", "grad_norm", "entropy", "reward",
                                      "clip_ratio/region_mean", "completions/mean_length") if k in row})
    curves = {"steps": [{"step": s, **steps[s]} for s in sorted(steps)]}
    write_json_atomic(folder / "curves.json", curves)
    files = {"curves_json": str(folder / "curves.json")}
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = curves["steps"]
        x = [r["step"] for r in rows]
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
        panels = ((axes[0], ("accuracy", "reward"), "reward / selection accuracy (all rollouts)"),
                  (axes[1], ("groups_dropped", "groups_kept", "groups_padded"), "dynamic sampling"),
                  (axes[2], ("parse_rate",), "judgment parse rate"))
        for ax, keys, title in panels:
            for key in keys:
                ys = [r.get(key) for r in rows]
                if any(y is not None for y in ys):
                    ax.plot(x, [float("nan") if y is None else y for y in ys], marker="o", label=key)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("step")
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(folder / "curves.png", dpi=100)
        plt.close(fig)
        files["curves_png"] = str(folder / "curves.png")
    except Exception as exc:  # plotting is a convenience; the JSON is the record
        print(f"[train] could not draw curves.png ({type(exc).__name__}: {exc})")
    return files


def _metrics(sampling: list[dict[str, Any]]) -> dict[str, Any]:
    def series(key: str) -> list[float]:
        return [float(r[key]) for r in sampling if r.get(key) is not None]

    out: dict[str, Any] = {"reward_mean_per_step": series("reward"), "accuracy_per_step": series("accuracy"),
                           "parse_rate_per_step": series("parse_rate"),
                           "dropped_groups_per_step": series("groups_dropped"),
                           "gen_rounds_per_step": series("rounds")}
    for key, values in list(out.items()):
        if values:
            out[key.replace("_per_step", "_last")] = values[-1]
    return out


# -- the entry point ------------------------------------------------------------------------------

WORK_STATE = "train_state.json"


def find_resumable(work_root: Path, config_hash_: str, name: str | None = None) -> Path:
    """The unfinished run to go on with: `name`, else the newest one of this config under
    <results>/checkpoints/.work (its train_state.json records the config hash)."""
    from harness.errors import ConfigError

    candidates = []
    for folder in sorted(work_root.glob("*")) if work_root.is_dir() else []:
        try:
            state = json.loads((folder / WORK_STATE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if name is not None and folder.name == name:
            if state.get("config_hash") != config_hash_:
                raise ConfigError(f"--resume {name}: that run was started from another config "
                                  f"(hash {state.get('config_hash')}, this one {config_hash_})")
            return folder
        if name is None and state.get("config_hash") == config_hash_:
            candidates.append((float(state.get("started", 0)), folder))
    if name is not None or not candidates:
        what = (f"no unfinished run named {name}" if name
                else f"no unfinished run of this config (hash {config_hash_})")
        raise ConfigError(f"--resume: {what} under {work_root}; start it without --resume")
    return max(candidates)[1]


def main(config_path: str, results_dir: str | None = None, eval_on: str | None = None, *,
         overrides: Mapping[str, Any] | None = None, progress: bool = False, settings=None,
         resume: bool | str = False) -> dict[str, Any]:
    """Train a GenSelect selector with DAPO and register the checkpoint; returns the entry.

    `settings` (harness.settings.Settings) says where task data and results live; the CLI passes
    the one it resolved from --data-dir / --results-dir, so the evaluation-overlap check reads
    the same data. Without it, `results_dir` and the environment decide. `eval_on` is handled by
    the CLI (it runs the rl-genselect selector on that task afterwards) and recorded in the entry.

    `resume` (True, or a run's name): go on with an unfinished run of this config after a kill:
    the selection data is rebuilt from the cached pools, a finished format warm-up is kept, and
    DAPO continues from its newest checkpoint (dapo.save_steps), so the run ends with the
    steps of an uninterrupted one, losing at most the steps since that checkpoint.
    """
    from harness.checkpoints import register_checkpoint
    from harness.jsonl import write_json_atomic
    from harness.models import materialize
    from harness.pools import slugify
    from harness.settings import Settings
    from trainers.dapo_trl import train_dapo
    from trainers.format_warmup import WarmupOptions, run_format_warmup
    from trainers.lora import LoraOptions, adapter_megabytes, name_base
    from trainers.selection_data import file_hash, read_dataset

    cfg = load_config(config_path, overrides)
    if settings is None:
        settings = Settings.resolve(results_dir=results_dir)
    chash = config_hash(cfg)
    dataset_path, dataset_info = build_dataset(cfg, settings, progress=progress)
    _, tasks = read_dataset(dataset_path)
    base_path = model_path = materialize(cfg["base_model"])
    work_root = settings.results_dir / "checkpoints" / ".work"
    if resume:
        work = find_resumable(work_root, chash, resume if isinstance(resume, str) else None)
        state = json.loads((work / WORK_STATE).read_text(encoding="utf-8"))
        name = work.name
        print(f"[train] resuming {name}")
    else:
        name = f"{slugify(cfg['name'])}-{time.strftime('%Y%m%d-%H%M%S')}-{chash[:6]}"
        work = work_root / name
        state = {"name": name, "config_hash": chash, "started": time.time(), "warmup": None}
        work.mkdir(parents=True, exist_ok=True)
        write_json_atomic(work / WORK_STATE, state)
    folder = (settings.results_dir / "checkpoints" / name).resolve()
    warmup = WarmupOptions.from_dict(cfg.get("warmup"))
    lora = LoraOptions.from_dict(cfg.get("lora"))
    warmup_info = state.get("warmup")
    adapter = None
    if warmup.enable:  # DAPO then starts from the format-following judge, saved beside the checkpoint
        warm_dir = folder / "format-warmup"
        if warmup_info is None:  # not finished before a kill: done (again) from the start
            report = run_format_warmup(model_path, tasks, warmup, str(warm_dir), lora=lora)
            warmup_info = {"path": str(warm_dir), "options": warmup.__dict__, **report.to_json()}
            print(f"[train] format warm-up: {report.examples} examples, {report.steps} steps in "
                  f"{report.seconds:.0f}s, loss {report.loss_first:.3f} -> {report.loss_last:.3f}, "
                  f"parse rate {report.parse_rate_after:.2f}")
            write_json_atomic(work / WORK_STATE, {**state, "warmup": warmup_info})
        else:
            print(f"[train] format warm-up kept from before the interruption ({warm_dir})")
        if lora.enable:  # the warm-up saved an adapter; DAPO goes on training it on the base
            adapter = str(warm_dir)
        else:
            model_path = str(warm_dir)
    outcome = train_dapo(tasks, model_path, cfg["dapo"], str(work), dtype=cfg.get("dtype"), lora=lora,
                         adapter=adapter, resume=bool(resume))
    trainer = outcome.trainer
    trainer.save_model(str(folder))
    if trainer.accelerator.is_main_process:
        if lora.enable:  # the adapter alone: its base (and tokenizer) is resolved by name at load
            for adapter_dir in (folder, *((warm_dir,) if adapter else ())):
                name_base(adapter_dir, cfg["base_model"])
        else:
            trainer.processing_class.save_pretrained(str(folder))
    files = write_curves(folder, outcome.sampling_history, outcome.log_history,
                         outcome.plan["updates_per_rollout"])
    import shutil

    shutil.rmtree(work, ignore_errors=True)  # TRL's output_dir: the resumable checkpoints, done with
    steps = max(outcome.steps, 1)
    metrics = _metrics(outcome.sampling_history)
    metrics.update({"seconds": round(outcome.seconds, 1),
                    "seconds_per_step": round(outcome.seconds / steps, 2)})
    entry = {
        "name": name, "path": str(folder), "base_model": cfg["base_model"], "base_model_path": base_path,
        "data": {"path": str(Path(dataset_path).resolve()), "sha256_16": file_hash(dataset_path),
                 "tasks": len(tasks), "pools": dataset_info.get("pools"),
                 "stats": dataset_info.get("stats"), "eval_guard": dataset_info.get("eval_guard")},
        # rollout steps (DAPO/verl training steps) taken, and the optimizer steps TRL ran for them
        "steps": outcome.steps, "optimizer_steps": outcome.optimizer_steps, "step_plan": outcome.plan,
        "config": cfg["_source"], "config_hash": chash, "trainer": "trl-grpo-dapo",
        "lora": {**lora.__dict__, "target_modules": list(lora.target_modules),
                 "adapter_mb": adapter_megabytes(folder)} if lora.enable else None,
        "metrics": metrics, "files": files, "eval_on": eval_on, "warmup": warmup_info,
        "resumed_from_step": outcome.resumed_from,
        "max_tokens": int((cfg.get("checkpoint") or {}).get("max_tokens")
                          or cfg["dapo"]["max_completion_length"]),
        "prompt_version": (cfg["data"].get("build") or {}).get("prompt_version", "genselect_v1"),
    }
    write_json_atomic(folder / "training.json", {"entry": entry, "config": {k: v for k, v in cfg.items()},
                                                 "log_history": outcome.log_history})
    if trainer.accelerator.is_main_process:
        entry = register_checkpoint(settings.results_dir, entry)
    print(f"[train] {outcome.steps} rollout steps ({outcome.optimizer_steps} optimizer steps) in "
          f"{outcome.seconds:.0f}s; checkpoint {name} -> {folder}")
    return entry


if __name__ == "__main__":  # pragma: no cover - the CLI is `python -m harness train`
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--results-dir")
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    from harness.settings import Settings

    resolved = Settings.resolve(data_dir=args.data_dir, results_dir=args.results_dir)
    print(json.dumps(main(args.config, settings=resolved), indent=2, default=str))
