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
                   config's numbers + these data paths), headed by a note on dynamic sampling
  overrides.txt    the same as Hydra overrides, one per line, for verl 0.9.1's schema
                   (verl/trainer/config/_generated_ppo_trainer.yaml): `key=value` for a key the
                   schema has, `+key=value` only under ADDED_KEYS (keys it does not declare).
                   Never `++`: it is accepted whatever the spelling, so a misspelt key would be
                   silently dropped.
  README.md        what the export holds and what verl 0.9 does with dynamic sampling
  launch.sh        `ray job submit ... -- python3 -m verl.trainer.main_ppo <overrides>`

verl 0.9's main_ppo reads the reward settings only under `reward.*`:
`reward.custom_reward_function.{path,name}`, `reward.reward_manager.name` and
`reward.reward_kwargs` (DAPO's overlong buffer; read by its DAPORewardManager). The legacy
top-level `custom_reward_function` and `reward_model.*` keys are still in its schema but main_ppo
ignores them (only the fully-async entry point migrates them), so the export never writes them.

Dynamic sampling (DYNAMIC_SAMPLING_NOTE): verl 0.9.1's default trainer (main_ppo with
trainer.use_v1=true, trainer.v1.trainer_mode=sync) implements algorithm.filter_groups in its V1
ReplayBuffer; max_num_gen_batches is ignored there, so it is not exported.

The reward is trainers/verl_reward.py:compute_score, which calls the same parse_judgment as the
GenSelect selector and the TRL reward. verl is not imported here; tests/trainers/test_verl_conformance.py
holds the export against the real verl 0.9.1 in its own venv (.ci/verl_venv.sh).
"""

from __future__ import annotations

import json
import random
import shlex
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from harness.types import stable_hash
from trainers.tasks_schema import SelectionTask

TEMPLATE = Path(__file__).parent / "configs" / "verl-dapo.yaml"
REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_SOURCE_PREFIX = "harness/genselect"
VERL_VERSION = "0.9.1"
# Keys whose children verl 0.9.1's schema does not declare: their overrides are written `+key=value`.
# reward.reward_kwargs is not in reward.yaml; data.apply_chat_template_kwargs is an empty dict there.
ADDED_KEYS = ("reward.reward_kwargs", "data.apply_chat_template_kwargs")
REWARD_FUNCTION = {"path": "trainers/verl_reward.py", "name": "compute_score"}
# SelectionTask fields copied into each row's extra_info (after its index and split), in this order
EXTRA_INFO = ("task_id", "problem_id", "pool_key", "shown_indices", "correct_positions", "n_candidates")
DYNAMIC_SAMPLING_NOTE = """\
Dynamic sampling under verl 0.9.1 (read in its source):
- The default trainer, `python3 -m verl.trainer.main_ppo` with trainer.use_v1=true and
  trainer.v1.trainer_mode=sync, implements algorithm.filter_groups in its V1 ReplayBuffer
  (verl/trainer/ppo/v1/replay_buffer.py, ReplayBuffer.sample; set up in trainer_base.py).
  A finished group whose algorithm.filter_groups.metric (`acc`: the reward function's 0/1;
  `reward`: verl's reward, overlong penalty included) is the same for all its rollouts is
  evicted; each eviction adds two prompts of refill credit, dispatched while at most
  max_inflight_gen_batches (default 1) x data.train_batch_size prompts are in flight, until
  data.train_batch_size groups with signal are ready; requests still running are then drained
  and the surplus discarded. A step therefore always trains on a full batch.
- There is no cap on the rounds: algorithm.filter_groups.max_num_gen_batches is ignored by the
  V1 ReplayBuffer (verl logs a warning when it is > 0), so this export does not write it; the
  training config's dapo.dynamic_sampling.max_num_gen_batches applies to the TRL trainer only.
- With filter_groups enabled verl forces data.gen_batch_size=1 (prompts are fetched one at a
  time for exact refills), so the export leaves gen_batch_size unset.
- The legacy trainer (trainer.use_v1=false, verl.trainer.main_ppo_v0 + ppo/ray_trainer.py) does
  not read filter_groups at all, and the wheel ships no recipe/dapo package.
"""


def verl_rows(tasks: Iterable[SelectionTask], split: str) -> list[dict[str, Any]]:
    """verl's RL dataset rows, one per task (the schema is in the module docstring)."""
    rows = []
    for i, t in enumerate(tasks):
        fields = t.model_dump(mode="json")  # verl's parquet rows are plain dicts: converted here
        truth = {key: fields[key] for key in ("correct_positions", "n_candidates")}
        rows.append({
            "data_source": f"{DATA_SOURCE_PREFIX}-{t.kind}",
            "prompt": [{"role": "user", "content": t.prompt}],
            "ability": f"selection-{t.kind}",
            "reward_model": {"style": "rule", "ground_truth": json.dumps(truth)},
            "extra_info": {"index": i, "split": split, **{key: fields[key] for key in EXTRA_INFO}},
        })
    return rows


def write_parquet(rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(list(rows)).to_parquet(path, index=False)
    return path


def split_by_problem(tasks: Sequence[SelectionTask], val_fraction: float,
                     seed: int = 0) -> tuple[list[SelectionTask], list[SelectionTask]]:
    """Validation tasks come from problems that have no training task (no leakage across splits)."""
    problems = sorted({t.problem_id for t in tasks})
    rng = random.Random(seed)
    rng.shuffle(problems)
    n_val = int(round(len(problems) * val_fraction)) if val_fraction > 0 else 0
    if val_fraction > 0 and len(problems) > 1:
        n_val = min(max(n_val, 1), len(problems) - 1)
    val_problems = set(problems[:n_val])
    train = [t for t in tasks if t.problem_id not in val_problems]
    val = [t for t in tasks if t.problem_id in val_problems]
    return train, val


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    from trainers.train import deep_merge

    return deep_merge(base, override)


def verl09_layout(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings laid out as verl 0.9's main_ppo reads them (the shipped template already is; this
    keeps a user's copy in the older layout working).

    Legacy reward keys (top-level `custom_reward_function`, `reward_model.reward_manager`,
    `reward_model.reward_kwargs`), which main_ppo ignores, move under `reward.*` (a key already
    under `reward.*` wins); `algorithm.filter_groups.max_num_gen_batches`, which its V1 trainer
    ignores, is dropped (DYNAMIC_SAMPLING_NOTE). Any other `reward_model` key is an error: verl 0.9
    would drop it silently.
    """
    out = {k: v for k, v in settings.items() if k not in ("custom_reward_function", "reward_model")}
    legacy_rm = dict(settings.get("reward_model") or {})
    unknown = sorted(set(legacy_rm) - {"reward_manager", "reward_kwargs"})
    if unknown:
        raise ValueError(f"reward_model.{unknown[0]}: verl 0.9 ignores the legacy reward_model section; "
                         "put the setting under reward.* (see verl/trainer/config/reward/reward.yaml)")
    legacy: dict[str, Any] = {}
    if settings.get("custom_reward_function"):
        legacy["custom_reward_function"] = dict(settings["custom_reward_function"])
    if legacy_rm.get("reward_manager"):
        legacy["reward_manager"] = {"name": str(legacy_rm["reward_manager"])}
    if legacy_rm.get("reward_kwargs"):
        legacy["reward_kwargs"] = dict(legacy_rm["reward_kwargs"])
    out["reward"] = _deep_merge(legacy, settings.get("reward") or {})
    groups = ((out.get("algorithm") or {}).get("filter_groups") or {})
    if "max_num_gen_batches" in groups:
        filter_groups = {k: v for k, v in groups.items() if k != "max_num_gen_batches"}
        out["algorithm"] = {**out["algorithm"], "filter_groups": filter_groups}
    return out


def verl_settings(train_cfg: Mapping[str, Any], train_file: str, val_file: str, *,
                  nnodes: int | None = None, gpus_per_node: int | None = None,
                  checkpoint_dir: str | None = None) -> dict[str, Any]:
    """verl 0.9's settings: the template, overlaid with the numbers of a training config."""
    import yaml

    from harness.models import preset

    base = verl09_layout(yaml.safe_load(TEMPLATE.read_text(encoding="utf-8")))
    d = train_cfg["dapo"]
    build = (train_cfg.get("data") or {}).get("build") or {}
    prompts = int(d["prompts_per_step"])
    updates = int(d.get("updates_per_step", 1))
    overlong = d.get("overlong") or {}
    sampling = d.get("dynamic_sampling") or {}
    top_k = int(d.get("top_k") or 0)
    mapped: dict[str, Any] = {
        # no data.gen_batch_size: verl forces it to 1 when filter_groups is on (DYNAMIC_SAMPLING_NOTE)
        "data": {"train_files": train_file, "val_files": val_file,
                 "max_prompt_length": int(build.get("max_prompt_tokens", 16384)),
                 "max_response_length": int(d["max_completion_length"]),
                 "train_batch_size": prompts},
        # metric "acc": reward_extra_info["acc"] from compute_score (0/1, no overlong penalty);
        # "reward": verl's canonical pre-KL reward, the overlong penalty included (TRL's "reward")
        "algorithm": {"filter_groups": {"enable": bool(sampling.get("enable", True)),
                                        "metric": "reward" if sampling.get("metric") == "reward" else "acc"}},
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
        "reward": {
            "custom_reward_function": dict(REWARD_FUNCTION),
            "reward_manager": {"name": "dapo"},
            "reward_kwargs": {  # read by verl's DAPORewardManager from config.reward.reward_kwargs
                "overlong_buffer_cfg": {"enable": bool(overlong.get("enable", False)),
                                        "len": int(overlong.get("cache", 4096)),
                                        "penalty_factor": float(overlong.get("factor", 1.0)), "log": False},
                "max_resp_len": int(d["max_completion_length"])}},
        "trainer": {"experiment_name": str(train_cfg["name"]), "total_training_steps": int(d["max_steps"]),
                    # verl counts both in its training (rollout) steps, as dapo.save_steps does; -1: never
                    "save_freq": int(d.get("save_steps", 0)) or -1},
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


def _is_added(path: str, added: Iterable[str]) -> bool:
    return any(path == key or path.startswith(key + ".") for key in added)


def hydra_overrides(settings: Mapping[str, Any], prefix: str = "",
                    added: Iterable[str] = ADDED_KEYS) -> list[str]:
    """Flatten nested settings into Hydra overrides for verl's strict (struct) config.

    `a.b.c=value` overrides a key verl's schema has (a misspelt one fails the compose);
    `+a.b.c=value` adds one under `added` (keys the schema does not declare; `+` on a key that
    exists fails too). Never `++`, which accepts any spelling.
    """
    added = tuple(added)
    out: list[str] = []
    for key, value in settings.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.extend(hydra_overrides(value, path, added))
        else:
            text = "{}" if isinstance(value, Mapping) else _hydra_value(value)
            out.append(f"{'+' if _is_added(path, added) else ''}{path}={text}")
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


def config_header() -> str:
    """The comment block that heads the exported verl-dapo.yaml."""
    lines = [f"verl {VERL_VERSION} settings for `python3 -m verl.trainer.main_ppo` (written by "
             "trainers/verl_export.py;", "overrides.txt holds the same as Hydra overrides). Reward settings "
             "live under reward.*.", "", *DYNAMIC_SAMPLING_NOTE.splitlines()]
    return "".join(f"# {line}".rstrip() + "\n" for line in lines)


def write_readme(out_dir: Path, settings: Mapping[str, Any]) -> Path:
    reward = settings.get("reward") or {}
    function = reward.get("custom_reward_function") or {}
    manager = (reward.get("reward_manager") or {}).get("name")
    text = (f"# verl export (verl {VERL_VERSION})\n\n"
            "- `train.parquet`, `val.parquet`: verl's RL dataset schema (data_source, prompt, ability, "
            "reward_model, extra_info)\n"
            "- `verl-dapo.yaml`: the resolved settings; `overrides.txt`: the same as Hydra overrides "
            "(`key=value` for keys in verl's schema, `+key=value` only for keys it does not declare)\n"
            "- `launch.sh`: submits `python3 -m verl.trainer.main_ppo` with those overrides to Ray\n\n"
            f"Reward: `reward.custom_reward_function.path={function.get('path')}`, "
            f"`name={function.get('name')}`, `reward.reward_manager.name={manager}`, "
            "`reward.reward_kwargs` (overlong buffer). verl 0.9's main_ppo ignores the legacy top-level "
            "`custom_reward_function` and `reward_model.*` keys.\n\n"
            f"## {DYNAMIC_SAMPLING_NOTE}")
    path = out_dir / "README.md"
    path.write_text(text, encoding="utf-8")
    return path


def export_verl(dataset_path: str | Path, out_dir: str | Path, train_cfg: Mapping[str, Any], *,
                val_fraction: float = 0.02, seed: int = 0, nnodes: int | None = None,
                gpus_per_node: int | None = None) -> dict[str, str]:
    import yaml

    from trainers.selection_data import file_hash, read_dataset

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    header, tasks = read_dataset(dataset_path)
    train, val = split_by_problem(tasks, val_fraction, seed)
    train_file = write_parquet(verl_rows(train, "train"), out / "train.parquet")
    val_file = write_parquet(verl_rows(val or train[:1], "val"), out / "val.parquet")
    settings = verl_settings(train_cfg, str(train_file), str(val_file), nnodes=nnodes,
                             gpus_per_node=gpus_per_node, checkpoint_dir=str(out / "checkpoints"))
    (out / "verl-dapo.yaml").write_text(config_header() + yaml.safe_dump(settings, sort_keys=False),
                                        encoding="utf-8")
    overrides = hydra_overrides(settings)
    (out / "overrides.txt").write_text("\n".join(overrides) + "\n", encoding="utf-8")
    launch = write_launch(out)
    readme = write_readme(out, settings)
    manifest = {"dataset": str(Path(dataset_path).resolve()), "dataset_sha256_16": file_hash(dataset_path),
                "train_rows": len(train), "val_rows": len(val), "config_hash": stable_hash(settings, 16),
                "reward_function": str(REPO_ROOT / "trainers" / "verl_reward.py") + ":compute_score",
                "builder": header.get("builder_version"), "verl_version": VERL_VERSION}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return {"train": str(train_file), "val": str(val_file), "config": str(out / "verl-dapo.yaml"),
            "overrides": str(out / "overrides.txt"), "launch": str(launch),
            "manifest": str(out / "manifest.json"), "readme": str(readme)}


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
