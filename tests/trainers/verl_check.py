"""Hold a verl export (trainers/verl_export.py) against the real verl 0.9.1, in its own venv.

Run with .venv-verl/bin/python (made by .ci/verl_venv.sh), from the repository root (the reward
path in the export is relative to it, as it is in the Ray job's working_dir):

    .venv-verl/bin/python tests/trainers/verl_check.py --export DIR --tokenizer MODEL_DIR --out result.json
    .venv-verl/bin/python tests/trainers/verl_check.py --export DIR --out result.json \
        --try-override KEY=VALUE ...

Without --try-override it does, each with verl's own code, and records every stage's result:
  compose   verl's hydra config (verl/trainer/config/ppo_trainer.yaml, as main_ppo's @hydra.main)
            composed with EVERY line of overrides.txt; hydra composes in struct mode, so an
            unknown or misspelt key fails; then main_ppo's validate_config
  sampling  the trainer main_ppo runs (trainer.use_v1, get_trainer_cls(trainer.v1.trainer_mode))
            and its _resolve_filter_groups_metric on the composed config, with the warnings it logs
  reward    verl.trainer.ppo.reward.get_custom_reward_fn (what load_reward_manager calls) on known
            cases, then load_reward_manager (the reward manager class and the kwargs it read) and
            its run_single on a tokenized response
  dataset   verl.utils.dataset.rl_dataset.RLHFDataset over train.parquet with the judge's tokenizer,
            and a sample's prompt tokens built the way verl's agent loop builds them
With --try-override, each given change (space-separated overrides to add, `!PREFIX` to drop the
exported overrides starting with PREFIX) is composed with the exported overrides on its own: the
error text, or the reward function and manager verl would load; nothing else runs. The result is
JSON in --out.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable


def read_overrides(export: Path) -> list[str]:
    lines = (export / "overrides.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def compose(overrides: list[str]):
    import verl
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    config_dir = str(Path(verl.__file__).parent / "trainer" / "config")
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        return hydra_compose(config_name="ppo_trainer", overrides=overrides)


def error_text(exc: BaseException) -> str:
    parts = [f"{type(exc).__name__}: {exc}"]
    cause = exc.__cause__ or exc.__context__
    while cause is not None and len(parts) < 4:
        parts.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__ or cause.__context__
    return "\n".join(parts)


def stage(result: dict[str, Any], name: str, fn: Callable[[], dict[str, Any]]) -> None:
    try:
        result[name] = {"ok": True, **fn()}
    except BaseException as exc:  # recorded for the test to show, never swallowed silently
        result[name] = {"ok": False, "error": error_text(exc), "traceback": traceback.format_exc()[-4000:]}


def _plain(value: Any) -> Any:
    from omegaconf import OmegaConf

    try:
        return OmegaConf.to_container(value, resolve=True)
    except ValueError:
        return value


def _flatten(settings: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in settings.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(_flatten(value, path))
        else:
            out[path] = value
    return out


def check_compose(export: Path, overrides: list[str], holder: dict[str, Any]) -> dict[str, Any]:
    import yaml
    from omegaconf import OmegaConf
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    cfg = compose(overrides)
    holder["cfg"] = cfg
    # every value the export meant to set is the value verl composed, at the same key
    settings = yaml.safe_load((export / "verl-dapo.yaml").read_text(encoding="utf-8"))
    mismatches = {}
    for key, value in _flatten(settings).items():
        got = _plain(OmegaConf.select(cfg, key, throw_on_missing=True))
        if got != value:
            mismatches[key] = {"exported": value, "verl": got}
    legacy = {"custom_reward_function": _plain(cfg.custom_reward_function),
              "reward_model.reward_manager": _plain(cfg.reward_model.reward_manager)}
    validate_config(config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    return {"struct": OmegaConf.is_struct(cfg), "n_overrides": len(overrides),
            "plus": [o for o in overrides if o.startswith("+")],
            "double_plus": [o for o in overrides if o.startswith("++")],
            "mismatches": mismatches, "legacy": legacy,
            "reward": _plain(cfg.reward.custom_reward_function) | {
                "reward_manager": cfg.reward.reward_manager.name,
                "reward_kwargs": _plain(cfg.reward.get("reward_kwargs"))},
            "filter_groups": _plain(cfg.algorithm.filter_groups)}


def check_sampling(cfg) -> dict[str, Any]:
    from types import SimpleNamespace

    from verl.trainer.ppo.v1 import get_trainer_cls  # what main_ppo's TaskRunnerV1 uses

    messages: list[str] = []

    class Grab(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    trainer_cls = get_trainer_cls(cfg.trainer.v1.trainer_mode)
    module_logger = logging.getLogger("verl.trainer.ppo.v1.trainer_base")
    grab = Grab(level=logging.WARNING)
    module_logger.addHandler(grab)
    try:
        metric = trainer_cls._resolve_filter_groups_metric(SimpleNamespace(config=cfg))
        warnings = list(messages)
        # what the trainer says of a cap on generation rounds (the export leaves it out)
        capped = copy.deepcopy(cfg)
        capped.algorithm.filter_groups.max_num_gen_batches = 10
        messages.clear()
        trainer_cls._resolve_filter_groups_metric(SimpleNamespace(config=capped))
    finally:
        module_logger.removeHandler(grab)
    return {"use_v1": bool(cfg.trainer.use_v1), "trainer_mode": cfg.trainer.v1.trainer_mode,
            "trainer_cls": f"{trainer_cls.__module__}.{trainer_cls.__qualname__}",
            "resolver_defined_in": trainer_cls._resolve_filter_groups_metric.__qualname__,
            "filter_metric": metric, "warnings": warnings, "max_num_gen_batches_10_warnings": messages}


JUDGMENTS = {"correct": ("<think>0 and 2 agree.</think>Judgment: 2", 1.0),
             "wrong": ("Judgment: 1", 0.0),
             "unparseable": ("I cannot decide between them.", 0.0),
             "out_of_range": ("Judgment: 3", 0.0),
             "never_closed_think": ("<think>Judgment: 0", 0.0)}
TRUTH = json.dumps({"correct_positions": [0, 2], "n_candidates": 3})


def check_reward(cfg, tokenizer_path: str | None) -> dict[str, Any]:
    import numpy as np
    import torch
    from verl import DataProto
    from verl.trainer.ppo.reward import get_custom_reward_fn, load_reward_manager

    fn = get_custom_reward_fn(cfg)
    if fn is None:
        raise RuntimeError("get_custom_reward_fn returned None: no reward.custom_reward_function.path")
    cases = {}
    for name, (text, expected) in JUDGMENTS.items():
        out = fn(data_source="harness/genselect-math", solution_str=text, ground_truth=TRUTH, extra_info={})
        cases[name] = {"expected": expected, "score": out["score"], "acc": out["acc"],
                       "parsed": out["parsed"]}
    result: dict[str, Any] = {"cases": cases}
    if tokenizer_path is None:
        return result
    from verl.utils import hf_tokenizer

    tokenizer = hf_tokenizer(tokenizer_path)
    manager = load_reward_manager(cfg, tokenizer)
    result["manager"] = f"{type(manager).__module__}.{type(manager).__qualname__}"
    result["manager_overlong_buffer_cfg"] = _plain(getattr(manager, "overlong_buffer_cfg", None))
    result["manager_max_resp_len"] = getattr(manager, "max_resp_len", None)
    runs = {}
    for name in ("correct", "wrong"):  # through the manager: decode the response tokens, score, penalty
        text = JUDGMENTS[name][0]
        prompt = tokenizer("Which candidate?", add_special_tokens=False)["input_ids"]
        response = tokenizer(text, add_special_tokens=False)["input_ids"]
        data = DataProto.from_dict(
            tensors={"prompts": torch.tensor([prompt]), "responses": torch.tensor([response]),
                     "attention_mask": torch.ones(1, len(prompt) + len(response), dtype=torch.long)},
            non_tensors={"data_source": np.array(["harness/genselect-math"], dtype=object),
                         "reward_model": np.array([{"style": "rule", "ground_truth": TRUTH}], dtype=object),
                         "extra_info": np.array([{}], dtype=object)})
        out = manager.loop.run_until_complete(manager.run_single(data))
        runs[name] = {"reward_score": float(out["reward_score"]),
                      "acc": float(out["reward_extra_info"]["acc"])}
    result["manager_runs"] = runs
    return result


def check_dataset(cfg, export: Path, tokenizer_path: str) -> dict[str, Any]:
    import pandas as pd
    from omegaconf import OmegaConf
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.utils import hf_tokenizer
    from verl.utils.dataset.rl_dataset import get_dataset_class
    from verl.utils.tokenizer.continuous_token_wiring import create_continuous_token_builder

    train_file = str(cfg.data.train_files)
    frame = pd.read_parquet(train_file)
    tokenizer = hf_tokenizer(tokenizer_path)
    dataset_cls = get_dataset_class(cfg.data)
    dataset = dataset_cls(data_files=cfg.data.train_files, tokenizer=tokenizer, config=cfg.data)
    item = dataset[0]
    messages = list(item["raw_prompt"])
    expected = frame.iloc[0]["prompt"][0]["content"]
    # the agent loop's one tokenization path (Continuous Token), with data.apply_chat_template_kwargs
    model_type = json.loads((Path(tokenizer_path) / "config.json").read_text()).get("model_type")
    template_kwargs = _plain(cfg.data.get("apply_chat_template_kwargs", {})) or {}
    builder = create_continuous_token_builder(tokenizer, hf_model_type=model_type,
                                              chat_template_kwargs=template_kwargs)
    prompt_ids = builder.build_initial_tokens(messages)
    decoded = tokenizer.decode(prompt_ids)
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": expected}], tokenize=False,
                                             add_generation_prompt=True, **template_kwargs)
    # a row's own ground truth, through verl's reward loading: a correct position scores 1
    truth = item["reward_model"]["ground_truth"]
    first_correct = json.loads(truth)["correct_positions"][0]
    score = get_custom_reward_fn(cfg)(data_source=item["data_source"],
                                      solution_str=f"Judgment: {first_correct}",
                                      ground_truth=truth, extra_info=item["extra_info"])["score"]
    return {"dataset_cls": f"{dataset_cls.__module__}.{dataset_cls.__qualname__}",
            "rows": len(dataset), "parquet_rows": len(frame),
            "filter_overlong_prompts": bool(OmegaConf.select(cfg, "data.filter_overlong_prompts")),
            "raw_prompt": [{"role": m["role"], "content": m["content"]} for m in messages],
            "exported_prompt": expected, "n_prompt_tokens": len(prompt_ids),
            "decoded_contains_prompt": expected in decoded, "decoded_equals_template": decoded == rendered,
            "data_source": item["data_source"], "row_reward_correct": score}


def try_override(overrides: list[str], spec: str) -> dict[str, Any]:
    """Compose the export changed by `spec`: space-separated overrides to add, `!PREFIX` to drop the
    exported overrides that start with PREFIX. A config that composes reports which reward function
    and reward manager verl would load from it."""
    from verl.trainer.ppo.reward import get_custom_reward_fn, resolve_reward_manager_cls

    drops = [item[1:] for item in spec.split() if item.startswith("!")]
    extra = [item for item in spec.split() if not item.startswith("!")]
    kept = [o for o in overrides if not any(o.lstrip("+").startswith(prefix) for prefix in drops)]
    try:
        cfg = compose(kept + extra)
    except BaseException as exc:
        return {"override": spec, "ok": False, "error": error_text(exc)}
    manager = resolve_reward_manager_cls(cfg)
    return {"override": spec, "ok": True, "dropped": len(overrides) - len(kept),
            "reward_fn_loaded": get_custom_reward_fn(cfg) is not None,
            "reward_manager": f"{manager.__module__}.{manager.__qualname__}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", required=True, type=Path)
    parser.add_argument("--tokenizer", help="a local model folder with the judge's tokenizer")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--try-override", action="append", default=[],
                        help="compose the export with this extra override and report the error")
    args = parser.parse_args(argv)
    import verl

    overrides = read_overrides(args.export)
    result: dict[str, Any] = {"verl_version": verl.__version__, "python": sys.version.split()[0],
                              "cwd": os.getcwd()}
    if args.try_override:
        result["tries"] = [try_override(overrides, spec) for spec in args.try_override]
    else:
        holder: dict[str, Any] = {}
        stage(result, "compose", lambda: check_compose(args.export, overrides, holder))
        cfg = holder.get("cfg")
        if cfg is not None:
            stage(result, "sampling", lambda: check_sampling(cfg))
            stage(result, "reward", lambda: check_reward(cfg, args.tokenizer))
            if args.tokenizer:
                stage(result, "dataset", lambda: check_dataset(cfg, args.export, args.tokenizer))
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
