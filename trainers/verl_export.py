"""Many machines: export selection tasks and a DAPO config for verl (the engine the paper used).

    python -m trainers.verl_export --config trainers/configs/paper-math.yaml \
        --dataset results/selection/paper-math-<hash>.jsonl --out results/verl/paper-math
    bash results/verl/paper-math/launch.sh          # = trainers/launch_verl.sh <out>

writes into <out>/:
  train.parquet, val.parquet  verl's RL dataset schema, one row per selection task:
        data_source   "harness/genselect-<kind>" (routes to our reward function)
        prompt        [{"role": "user", "content": <the GenSelect prompt>}] (verl applies the chat template)
        ability       "selection-<kind>"
        reward_model  {"style": "rule", "ground_truth": '{"correct_positions": [...], "n_candidates": k}'}
        extra_info    {"index", "split", "task_id", "problem_id", "pool_key", "shown_indices",
                       "correct_positions", "n_candidates"}
  verl-dapo.yaml   the resolved verl settings (trainers/configs/verl-dapo.yaml + the training
                   config's numbers + these data paths)
  overrides.txt    the same as Hydra overrides, one per line (`++key=value`: works whether or not
                   the installed verl declares the key, e.g. algorithm.filter_groups)
  launch.sh        `ray job submit ... -- python3 -m verl.trainer.main_ppo <overrides>`

The reward is trainers/verl_reward.py:compute_score, which calls the same parse_judgment as the
GenSelect selector and the TRL reward. verl itself is GPU-only and is not imported here.
"""

from __future__ import annotations

import json
import random
import shlex
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from harness.types import stable_hash

TEMPLATE = Path(__file__).parent / "configs" / "verl-dapo.yaml"
REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_SOURCE_PREFIX = "harness/genselect"


def verl_rows(records: Iterable[Mapping[str, Any]], split: str) -> list[dict[str, Any]]:
    rows = []
    for i, r in enumerate(records):
        kind = r.get("kind", "math")
        correct = [int(c) for c in r["correct_positions"]]
        n = int(r["n_candidates"])
        rows.append({
            "data_source": f"{DATA_SOURCE_PREFIX}-{kind}",
            "prompt": [{"role": "user", "content": r["prompt"]}],
            "ability": f"selection-{kind}",
            "reward_model": {"style": "rule",
                             "ground_truth": json.dumps({"correct_positions": correct, "n_candidates": n})},
            "extra_info": {"index": i, "split": split, "task_id": str(r["task_id"]),
                           "problem_id": str(r["problem_id"]),
                           "pool_key": str(r.get("pool_key", "")),
                           "shown_indices": [int(x) for x in r["shown_indices"]],
                           "correct_positions": correct, "n_candidates": n},
        })
    return rows


def write_parquet(rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(list(rows)).to_parquet(path, index=False)
    return path


def split_by_problem(records: Sequence[Mapping[str, Any]], val_fraction: float, seed: int = 0):
    """Validation tasks come from problems that have no training task (no leakage across splits)."""
    problems = sorted({r["problem_id"] for r in records})
    rng = random.Random(seed)
    rng.shuffle(problems)
    n_val = int(round(len(problems) * val_fraction)) if val_fraction > 0 else 0
    if val_fraction > 0 and len(problems) > 1:
        n_val = min(max(n_val, 1), len(problems) - 1)
    val_problems = set(problems[:n_val])
    train = [r for r in records if r["problem_id"] not in val_problems]
    val = [r for r in records if r["problem_id"] in val_problems]
    return train, val


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    from trainers.train import deep_merge

    return deep_merge(base, override)


def verl_settings(train_cfg: Mapping[str, Any], train_file: str, val_file: str, *,
                  nnodes: int | None = None, gpus_per_node: int | None = None,
                  checkpoint_dir: str | None = None) -> dict[str, Any]:
    """verl's settings: the template, overlaid with the numbers of a training config."""
    import yaml

    from harness.models import preset

    base = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    d = train_cfg["dapo"]
    build = (train_cfg.get("data") or {}).get("build") or {}
    prompts = int(d["prompts_per_step"])
    updates = int(d.get("updates_per_step", 1))
    overlong = d.get("overlong") or {}
    sampling = d.get("dynamic_sampling") or {}
    top_k = int(d.get("top_k") or 0)
    mapped: dict[str, Any] = {
        "data": {"train_files": train_file, "val_files": val_file,
                 "max_prompt_length": int(build.get("max_prompt_tokens", 16384)),
                 "max_response_length": int(d["max_completion_length"]),
                 "train_batch_size": prompts, "gen_batch_size": prompts},
        "algorithm": {"filter_groups": {"enable": bool(sampling.get("enable", True)),
                                        "metric": ("acc" if sampling.get("metric", "acc") == "acc"
                                                   else "score"),
                                        "max_num_gen_batches": int(sampling.get("max_num_gen_batches", 10))}},
        "actor_rollout_ref": {
            "model": {"path": preset(train_cfg["base_model"]).hf_id},
            "actor": {"clip_ratio_low": float(d["epsilon"]), "clip_ratio_high": float(d["epsilon_high"]),
                      "use_kl_loss": float(d["beta"]) != 0.0, "kl_loss_coef": float(d["beta"]),
                      "loss_agg_mode": "token-mean" if d["loss_type"] == "dapo" else "seq-mean-token-mean",
                      "ppo_mini_batch_size": max(1, prompts // updates),
                      "grad_clip": float(d["max_grad_norm"]),
                      "optim": {"lr": float(d["learning_rate"]),
                                "lr_warmup_steps": int(d.get("warmup_steps", 0)),
                                "weight_decay": float(d.get("weight_decay", 0.0))}},
            "rollout": {"n": int(d["num_generations"]), "temperature": float(d["temperature"]),
                        "top_p": float(d["top_p"]), "top_k": top_k if top_k > 0 else -1},
        },
        "reward_model": {"reward_kwargs": {
            "overlong_buffer_cfg": {"enable": bool(overlong.get("enable", False)),
                                    "len": int(overlong.get("cache", 4096)),
                                    "penalty_factor": float(overlong.get("factor", 1.0)), "log": False},
            "max_resp_len": int(d["max_completion_length"])}},
        "trainer": {"experiment_name": str(train_cfg["name"]), "total_training_steps": int(d["max_steps"])},
    }
    if d.get("chat_template_kwargs"):
        mapped["data"]["apply_chat_template_kwargs"] = dict(d["chat_template_kwargs"])
    if nnodes:
        mapped["trainer"]["nnodes"] = int(nnodes)
    if gpus_per_node:
        mapped["trainer"]["n_gpus_per_node"] = int(gpus_per_node)
    if checkpoint_dir:
        mapped["trainer"]["default_local_dir"] = checkpoint_dir
    return _deep_merge(base, mapped)


def _hydra_value(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_hydra_value(v) if not isinstance(v, str) else f"'{v}'" for v in value) + "]"
    text = str(value)
    if any(c in text for c in " ,=[]{}'\"") or text == "":
        return "'" + text.replace("'", "\\'") + "'"
    return text


def hydra_overrides(settings: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Flatten nested settings into `++a.b.c=value` overrides (force-add-or-override)."""
    out: list[str] = []
    for key, value in settings.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.extend(hydra_overrides(value, path))
        else:
            out.append(f"++{path}={_hydra_value(value)}")
    return out


def write_launch(out_dir: Path) -> Path:
    script = out_dir / "launch.sh"
    launcher = REPO_ROOT / "trainers" / "launch_verl.sh"
    script.write_text("#!/usr/bin/env bash\n"
                      "# Submit this export to a Ray cluster (RAY_ADDRESS), verl's own entry point.\n"
                      f"exec bash {shlex.quote(str(launcher))} "
                      f"{shlex.quote(str(out_dir.resolve()))} \"$@\"\n",
                      encoding="utf-8")
    script.chmod(0o755)
    return script


def export_verl(dataset_path: str | Path, out_dir: str | Path, train_cfg: Mapping[str, Any], *,
                val_fraction: float = 0.02, seed: int = 0, nnodes: int | None = None,
                gpus_per_node: int | None = None) -> dict[str, str]:
    import yaml

    from trainers.selection_data import file_hash, read_dataset

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    header, records = read_dataset(dataset_path)
    train, val = split_by_problem(records, val_fraction, seed)
    train_file = write_parquet(verl_rows(train, "train"), out / "train.parquet")
    val_file = write_parquet(verl_rows(val or train[:1], "val"), out / "val.parquet")
    settings = verl_settings(train_cfg, str(train_file), str(val_file), nnodes=nnodes,
                             gpus_per_node=gpus_per_node, checkpoint_dir=str(out / "checkpoints"))
    (out / "verl-dapo.yaml").write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    overrides = hydra_overrides(settings)
    (out / "overrides.txt").write_text("\n".join(overrides) + "\n", encoding="utf-8")
    launch = write_launch(out)
    manifest = {"dataset": str(Path(dataset_path).resolve()), "dataset_sha256_16": file_hash(dataset_path),
                "train_rows": len(train), "val_rows": len(val), "config_hash": stable_hash(settings, 16),
                "reward_function": str(REPO_ROOT / "trainers" / "verl_reward.py") + ":compute_score",
                "builder": header.get("builder_version")}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return {"train": str(train_file), "val": str(val_file), "config": str(out / "verl-dapo.yaml"),
            "overrides": str(out / "overrides.txt"), "launch": str(launch),
            "manifest": str(out / "manifest.json")}


def main(argv: Sequence[str] | None = None) -> dict[str, str]:
    import argparse

    from trainers.train import load_config

    parser = argparse.ArgumentParser(description="Export selection tasks + a DAPO config for verl")
    parser.add_argument("--config", required=True,
                        help="training config (e.g. trainers/configs/paper-math.yaml)")
    parser.add_argument("--dataset", required=True, help="selection-task JSONL (results/selection/*.jsonl)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--val-fraction", type=float, default=0.02)
    parser.add_argument("--nnodes", type=int)
    parser.add_argument("--gpus-per-node", type=int)
    args = parser.parse_args(argv)
    paths = export_verl(args.dataset, args.out, load_config(args.config), val_fraction=args.val_fraction,
                        nnodes=args.nnodes, gpus_per_node=args.gpus_per_node)
    print(json.dumps(paths, indent=2))
    return paths


if __name__ == "__main__":  # pragma: no cover
    main()
