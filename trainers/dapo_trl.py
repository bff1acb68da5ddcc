"""DAPO on one machine: TRL's GRPOTrainer with the DAPO loss, plus dynamic sampling.

What comes from TRL's own options (GRPOConfig): loss_type="dapo" (token-level loss normalised
by the number of active tokens in the whole generation batch), epsilon=0.2 / epsilon_high=0.28
(clip-higher), beta=0.0 (no KL term, no reference model), mask_truncated_completions (overlong
filtering), num_generations, steps_per_generation, use_vllm / vllm_mode, bf16, use_cpu;
vllm_importance_sampling_correction is passed as False unless the config asks for it.

Steps are ROLLOUT steps (trainers.dapo_config, "Step semantics"): TRL runs
max_steps x U optimizer steps, U = updates_per_step x num_iterations; `DAPOTrainer` counts the
generation batches it trains on (`rollout_steps`, one per rollout step however many dynamic
sampling rounds it took), steps its lr schedule per rollout step as verl does
(`create_scheduler`), and never lets a stop request (the wall-clock budget) end training
between the U updates of one rollout batch.

What TRL lacks and `DAPOTrainer` adds: dynamic sampling. GRPOTrainer builds each generation
batch in `_generate_and_score_completions` (generate, score with the reward functions, compute
group advantages); `_prepare_inputs` then splits it into `steps_per_generation` micro-batches.
`DAPOTrainer` overrides that method: it runs the stock method once per round, keeps the groups
whose rewards are not all equal (all-0 and all-1 groups carry no advantage), refills from
freshly drawn prompts of the training set, and repeats until the batch holds as many groups as
a normal step (or `max_num_gen_batches` rounds were spent; the shortfall is then padded with
dropped groups whose loss mask is zeroed, so they change nothing). The merged batch gets its
token count (`num_items_in_batch`, the DAPO normaliser) recomputed from the kept rows.
Dropped / kept / padded groups and rounds are logged as `dynamic_sampling/*` metrics and kept in
`trainer.sampling_history` for the training curves.

The pure batch logic (`group_keep_mask`, `select_rows`, `merge_batches`, `fill_batch`) has no
TRL dependency and is unit-tested on its own.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from harness.errors import ConfigError, DataError, MissingPrerequisiteError
from harness.jsonl import write_json_atomic
from trainers.dapo_config import DAPO_DEFAULTS, grpo_config, rollout_lr_scheduler, step_plan
from trainers.lora import LoraOptions, with_new_adapter, with_saved_adapter
from trainers.tasks_schema import SelectionTask

# -- pure batch logic -------------------------------------------------------------------------

_LEFT_PADDED = ("prompt_ids", "prompt_mask")
_MULTIMODAL = ("pixel_values", "image_grid_thw", "pixel_attention_mask", "spatial_shapes", "image_sizes",
               "token_type_ids", "mm_token_type_ids", "image_position_ids", "num_images", "num_tiles")


def group_keep_mask(rewards, group_size: int, tol: float = 1e-6) -> list[bool]:
    """One flag per consecutive group of `group_size` rewards: True when the rewards differ
    (max - min > tol among the non-NaN ones). All-equal groups (all 0, all 1, ...) and groups
    with fewer than two scorable completions are dropped."""
    values = [float(x) for x in (rewards.tolist() if hasattr(rewards, "tolist") else rewards)]
    if group_size < 1 or len(values) % group_size:
        raise ValueError(f"{len(values)} rewards do not split into groups of {group_size}")
    keep = []
    for start in range(0, len(values), group_size):
        finite = [v for v in values[start:start + group_size] if not math.isnan(v)]
        keep.append(len(finite) >= 2 and max(finite) - min(finite) > tol)
    return keep


def batch_rows(batch: Mapping[str, Any]) -> int:
    for key in ("completion_ids", "advantages", "prompt_ids"):
        if key in batch and batch[key] is not None:
            return len(batch[key])
    raise ValueError("cannot tell the number of rows of this batch")


def select_rows(batch: Mapping[str, Any], rows: Sequence[int]) -> dict[str, Any]:
    """The same batch restricted to `rows` (tensors and lists indexed, scalars kept)."""
    import torch

    index = torch.as_tensor(list(rows), dtype=torch.long)
    out: dict[str, Any] = {}
    for key, value in batch.items():
        if value is None:
            out[key] = None
        elif isinstance(value, torch.Tensor):
            out[key] = value if value.ndim == 0 else value.index_select(0, index.to(value.device))
        elif isinstance(value, list):
            out[key] = [value[i] for i in rows]
        else:
            out[key] = value
    return out


def _pad_value(key: str, pad_token_id: int) -> float:
    if key.endswith("_ids"):
        return pad_token_id
    if key in ("importance_sampling_ratio", "tool_mask"):
        return 1
    return 0


def merge_batches(parts: Sequence[Mapping[str, Any]], pad_token_id: int) -> dict[str, Any]:
    """Concatenate batches row-wise; 2-D tensors are padded to the widest part (prompts on the
    left, completions and per-token values on the right, as GRPOTrainer pads them)."""
    import torch

    parts = [p for p in parts if batch_rows(p) > 0] or list(parts[:1])
    if len(parts) == 1:
        return dict(parts[0])
    keys = list(parts[0])
    out: dict[str, Any] = {}
    for key in keys:
        values: list[Any] = [p.get(key) for p in parts]  # tensors, lists or None (checked below)
        if key in _MULTIMODAL and any(v is not None for v in values):
            raise NotImplementedError(f"dynamic sampling does not merge multimodal field {key!r}")
        if all(v is None for v in values):
            out[key] = None
        elif any(v is None for v in values):
            raise ValueError(f"field {key!r} is present in some generation rounds and not others")
        elif isinstance(values[0], list):
            out[key] = [x for v in values for x in v]
        elif isinstance(values[0], torch.Tensor) and values[0].ndim == 0:
            out[key] = sum(values[1:], values[0])  # recomputed by the caller where it matters
        elif isinstance(values[0], torch.Tensor) and values[0].ndim == 1:
            out[key] = torch.cat(values, dim=0)
        elif isinstance(values[0], torch.Tensor) and values[0].ndim == 2:
            width = max(v.shape[1] for v in values)
            fill = _pad_value(key, pad_token_id)
            padded = []
            for v in values:
                extra = width - v.shape[1]
                if extra:
                    pad = torch.full((v.shape[0], extra), fill, dtype=v.dtype, device=v.device)
                    v = torch.cat([pad, v] if key in _LEFT_PADDED else [v, pad], dim=1)
                padded.append(v)
            out[key] = torch.cat(padded, dim=0)
        elif isinstance(values[0], torch.Tensor):
            out[key] = torch.cat(values, dim=0)
        else:
            out[key] = values[0]
    return out


@dataclass
class SamplingReport:
    rounds: int = 0
    groups_seen: int = 0
    groups_dropped: int = 0
    groups_kept: int = 0  # kept groups that went into the batch
    groups_padded: int = 0  # shortfall filled with masked dropped groups
    surplus_groups: int = 0  # kept groups beyond the target (discarded)
    rewards: list[float] = field(default_factory=list)  # every scored completion, before filtering

    def to_json(self) -> dict[str, Any]:
        finite = [r for r in self.rewards if not math.isnan(r)]
        return {"rounds": self.rounds, "groups_seen": self.groups_seen, "groups_dropped": self.groups_dropped,
                "groups_kept": self.groups_kept, "groups_padded": self.groups_padded,
                "surplus_groups": self.surplus_groups,
                "reward_mean_all": sum(finite) / len(finite) if finite else float("nan")}


class ShortfallError(DataError, RuntimeError):
    """Dynamic sampling spent its rounds without filling the batch (on_shortfall="error")."""


def fill_batch(round_fn: Callable[[int], tuple[Mapping[str, Any], Any]], *, target_groups: int,
               group_size: int, max_rounds: int, pad_token_id: int, on_shortfall: str = "pad",
               min_across_processes: Callable[[int], int] | None = None
               ) -> tuple[dict[str, Any], SamplingReport]:
    """Generate rounds with `round_fn(r) -> (batch, rewards)` until `target_groups` groups with
    differing rewards are collected; return the merged batch of exactly target_groups groups.

    max_rounds <= 0 means no limit (verl's convention for max_num_gen_batches). With several
    processes, `min_across_processes` makes every process stop at the same round.
    """
    import torch

    report = SamplingReport()
    kept: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    have = 0
    while True:
        batch, rewards = round_fn(report.rounds)
        report.rounds += 1
        rewards_list = [float(x) for x in (rewards.tolist() if hasattr(rewards, "tolist") else rewards)]
        report.rewards.extend(rewards_list)
        keep = group_keep_mask(rewards_list, group_size)
        report.groups_seen += len(keep)
        report.groups_dropped += keep.count(False)
        keep_rows = [g * group_size + j for g, k in enumerate(keep) if k for j in range(group_size)]
        drop_rows = [g * group_size + j for g, k in enumerate(keep) if not k for j in range(group_size)]
        if keep_rows:
            kept.append(select_rows(batch, keep_rows))
        if drop_rows and have + sum(keep) < target_groups:
            dropped.append(select_rows(batch, drop_rows))  # only kept while a shortfall is possible
        have += sum(keep)
        enough = have if min_across_processes is None else min_across_processes(have)
        if enough >= target_groups:
            break
        if max_rounds > 0 and report.rounds >= max_rounds:
            break
    if have < target_groups:
        missing = target_groups - have
        if on_shortfall == "error":
            raise ShortfallError(f"dynamic sampling kept {have} of {target_groups} groups after "
                                 f"{report.rounds} rounds (max_num_gen_batches): the data is too easy or "
                                 "too hard for this model")
        pads = merge_batches(dropped, pad_token_id) if dropped else None
        if pads is None or batch_rows(pads) < missing * group_size:
            raise ShortfallError("dynamic sampling could not pad its shortfall (not enough dropped groups)")
        pads = select_rows(pads, range(missing * group_size))
        pads["completion_mask"] = torch.zeros_like(pads["completion_mask"])  # no loss, no tokens
        if "advantages" in pads and pads["advantages"] is not None:
            pads["advantages"] = torch.zeros_like(pads["advantages"])
        kept.append(pads)
        report.groups_padded = missing
    merged = merge_batches(kept, pad_token_id)
    report.surplus_groups = max(0, have - target_groups)
    report.groups_kept = min(have, target_groups)
    merged = select_rows(merged, range(target_groups * group_size))
    return merged, report


# -- the TRL trainer ---------------------------------------------------------------------------

def updates_per_rollout(args: Any) -> int:
    """Optimizer steps per generation batch in TRL: a batch serves steps_per_generation x
    num_iterations micro-batches (GRPOTrainer._prepare_inputs) and an optimizer step takes
    gradient_accumulation_steps of them. 1 when they do not divide evenly (then generation and
    optimizer steps are not aligned and there is no whole number to count by)."""
    served = int(args.steps_per_generation) * int(args.num_iterations)
    accumulation = int(args.gradient_accumulation_steps)
    return served // accumulation if served % accumulation == 0 else 1


def _rollout_boundary_callback(updates: int):
    """A TrainerCallback that defers a stop request (the wall-clock budget) to the end of the
    rollout step in flight: training never ends between the updates of one rollout batch."""
    from transformers import TrainerCallback

    class RolloutBoundary(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if control.should_training_stop and state.global_step % updates \
                    and state.global_step < state.max_steps:
                control.should_training_stop = False
            return control

    return RolloutBoundary()


@functools.cache
def _trainer_class():
    """DAPOTrainer, built once on first use so that importing this module does not import TRL."""
    import numpy as np
    import torch

    try:
        from trl import GRPOTrainer
    except ImportError as exc:
        raise MissingPrerequisiteError.package("trl", "train", purpose="DAPO training") from exc

    class _DAPOTrainer(GRPOTrainer):
        """GRPOTrainer + dynamic sampling (see the module docstring)."""

        def __init__(self, *args: Any, dynamic_sampling: bool = True, max_num_gen_batches: int = 10,
                     on_shortfall: str = "pad", filter_metric: str = "acc", **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if filter_metric not in ("acc", "reward"):
                raise ConfigError(f"dynamic_sampling.metric must be 'acc' or 'reward', got {filter_metric!r}")
            if on_shortfall not in ("pad", "error"):
                raise ConfigError("dynamic_sampling.on_shortfall must be 'pad' or 'error', "
                                  f"got {on_shortfall!r}")
            self.dynamic_sampling = dynamic_sampling
            self.max_num_gen_batches = max_num_gen_batches
            self.on_shortfall = on_shortfall
            self.filter_metric = filter_metric
            self.sampling_history: list[dict[str, Any]] = []
            self._last_rewards_per_func: Any = None  # a tensor once TRL has scored a batch
            config: Any = self.args  # a GRPOConfig
            self.rollout_steps = 0  # generation batches trained on (DAPO/verl training steps)
            self.updates_per_rollout = updates_per_rollout(config)
            self._boundary = _rollout_boundary_callback(self.updates_per_rollout)
            local = config.per_device_train_batch_size * config.steps_per_generation
            if dynamic_sampling and local % self.num_generations:
                raise ConfigError(
                    f"dynamic sampling keeps whole groups per process: per_device_train_batch_size x "
                    f"steps_per_generation ({local}) must be a multiple of num_generations "
                    f"({self.num_generations})")

        def train(self, *args: Any, **kwargs: Any):
            # the rollout-boundary guard runs after every other callback (stop requests included)
            if self._boundary in self.callback_handler.callbacks:
                self.callback_handler.remove_callback(self._boundary)
            if self.updates_per_rollout > 1:
                self.callback_handler.add_callback(self._boundary)
            return super().train(*args, **kwargs)

        def _save_checkpoint(self, model, trial):
            # TRL/transformers save weights, optimizer, scheduler, RNG and trainer_state (the data
            # position); the DAPO counters go beside them, written last: a checkpoint folder
            # without this file was cut off mid-save and is not resumed from.
            super()._save_checkpoint(model, trial)
            folder = Path(self.args.output_dir) / f"checkpoint-{self.state.global_step}"
            if self.accelerator.is_main_process and folder.is_dir():
                write_json_atomic(folder / DAPO_STATE, {"rollout_steps": self.rollout_steps,
                                                        "sampling_history": self.sampling_history})

        def restore_dapo_state(self, checkpoint: str) -> None:
            state = json.loads((Path(checkpoint) / DAPO_STATE).read_text(encoding="utf-8"))
            self.rollout_steps = int(state["rollout_steps"])
            self.sampling_history = list(state["sampling_history"])

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            self._last_rewards_per_func = rewards  # gathered over processes, rows in global order
            return rewards

        def _filter_values(self, local_rows: int):
            """Per local completion, the value groups are filtered on: DAPO's "acc" (the 0/1
            correctness, without the overlong penalty; verl's filter_groups.metric=acc) or the
            full reward TRL trains on."""
            if self.filter_metric == "acc":
                for func in self.reward_funcs:
                    last_correct = getattr(func, "last_correct", None)
                    if last_correct is not None and len(last_correct) == local_rows:
                        return torch.tensor(last_correct, dtype=torch.float32)
            per_func = self._last_rewards_per_func
            weights = self.reward_weights.to(per_func.device).unsqueeze(0)
            rewards = (per_func * weights).nansum(dim=1)
            rewards[torch.isnan(per_func).all(dim=1)] = float("nan")
            start = self.accelerator.process_index * local_rows
            return rewards[start:start + local_rows].detach().cpu()

        def _refill_inputs(self, round_index: int, local_rows: int) -> list[dict[str, Any]]:
            dataset: Any = self.train_dataset
            if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
                raise TypeError("dynamic sampling refills from the training set and needs a map-style "
                                "dataset")
            group = self.num_generations
            assert group is not None  # GRPOConfig always sets it (typed Optional by TRL)
            prompts = local_rows * self.accelerator.num_processes // group
            # Same draw on every process (seeded by step and round), each takes its own slice,
            # exactly as TRL's RepeatSampler lays out a generation batch.
            rng = np.random.default_rng([int(self.args.seed), int(self.state.global_step), round_index, 7207])
            picks = rng.choice(len(dataset), size=prompts, replace=prompts > len(dataset))
            rows = [int(i) for i in picks for _ in range(group)]
            start = self.accelerator.process_index * local_rows
            return [dict(dataset[i]) for i in rows[start:start + local_rows]]

        def create_scheduler(self, num_training_steps: int, optimizer=None):
            """The lr schedule in rollout steps (verl's): constant over each rollout step's updates."""
            updates, args, warmup = self.updates_per_rollout, self.args, float(self.args.warmup_steps)
            aligned = warmup == 0 or (warmup >= 1 and warmup.is_integer() and not int(warmup) % updates)
            if self.lr_scheduler is None and updates > 1 and aligned and not num_training_steps % updates:
                extra = args.lr_scheduler_kwargs if isinstance(args.lr_scheduler_kwargs, dict) else None
                self.lr_scheduler = rollout_lr_scheduler(
                    self.optimizer if optimizer is None else optimizer, args.lr_scheduler_type,
                    warmup_rollout_steps=int(warmup) // updates,
                    rollout_steps=num_training_steps // updates, updates_per_rollout=updates,
                    scheduler_kwargs=extra)
                if self.lr_scheduler is not None:
                    self._created_lr_scheduler = True
            return super().create_scheduler(num_training_steps, optimizer)

        def _generate_and_score_completions(self, inputs):
            if not self.model.training:
                return super()._generate_and_score_completions(inputs)
            self.rollout_steps += 1  # once per generation batch (dynamic sampling rounds included)
            local_rows = len(inputs)
            group = self.num_generations
            if not self.dynamic_sampling:  # plain GRPO batch; still record how many groups carry no signal
                batch = super()._generate_and_score_completions(inputs)
                values = self._filter_values(local_rows)
                keep = group_keep_mask(values, group)
                report = SamplingReport(rounds=1, groups_seen=len(keep), groups_kept=len(keep),
                                        rewards=[float(v) for v in values.tolist()])
                self._record(report, zero_signal=keep.count(False))
                return batch

            def round_fn(round_index: int):
                batch_inputs = inputs if round_index == 0 else self._refill_inputs(round_index, local_rows)
                out = GRPOTrainer._generate_and_score_completions(self, batch_inputs)
                return out, self._filter_values(local_rows)

            def min_across(value: int) -> int:
                if self.accelerator.num_processes == 1:
                    return value
                counts = self.accelerator.gather(torch.tensor([value], device=self.accelerator.device))
                return int(counts.min().item())

            batch, report = fill_batch(round_fn, target_groups=local_rows // group, group_size=group,
                                       max_rounds=self.max_num_gen_batches,
                                       pad_token_id=self._tokenizer.pad_token_id,
                                       on_shortfall=self.on_shortfall, min_across_processes=min_across)
            mask = batch["completion_mask"]
            if batch.get("tool_mask") is not None:
                mask = mask * batch["tool_mask"]
            batch["num_items_in_batch"] = self.accelerator.gather(mask.sum()).sum()
            self._record(report)
            return batch

        def _record(self, report: SamplingReport, zero_signal: int | None = None) -> None:
            metrics = self._metrics["train"]
            for name, value in (("dropped_groups", report.groups_dropped),
                                ("kept_groups", report.groups_kept),
                                ("padded_groups", report.groups_padded), ("gen_batches", report.rounds)):
                metrics[f"dynamic_sampling/{name}"].append(float(value))
            row = {"step": self.rollout_steps, "optimizer_step": int(self.state.global_step) + 1,
                   "filter_metric": self.filter_metric, **report.to_json()}
            if zero_signal is not None:
                row["zero_signal_groups"] = zero_signal
            for func in self.reward_funcs:
                take_batches = getattr(func, "take_batches", None)
                if take_batches is not None:
                    stats = take_batches()
                    total = sum(s["completions"] for s in stats) or 1.0
                    for key in ("parse_rate", "accuracy", "reward"):
                        row[key] = sum(s[key] * s["completions"] for s in stats) / total
            self.sampling_history.append(row)
            # one line a step: a long CPU run is otherwise silent (tqdm is off)
            scores = "".join(f", {key} {row[key]:.2f}" for key in ("reward", "parse_rate") if key in row)
            print(f"[dapo] rollout step {row['step']}: kept {report.groups_kept} group(s), dropped "
                  f"{report.groups_dropped} of {report.groups_seen} (all {self.filter_metric} equal) in "
                  f"{report.rounds} generation round(s)"
                  + (f", padded {report.groups_padded} masked" if report.groups_padded else "") + scores,
                  flush=True)

    return _DAPOTrainer


def __getattr__(name: str):
    if name == "DAPOTrainer":
        return _trainer_class()
    raise AttributeError(name)


DAPO_STATE = "dapo_state.json"


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete resumable checkpoint in a TRL output_dir (see _save_checkpoint)."""
    folders = [p for p in Path(output_dir).glob("checkpoint-*")
               if p.name.split("-")[-1].isdigit() and (p / DAPO_STATE).is_file()
               and (p / "trainer_state.json").is_file()]
    return max(folders, key=lambda p: int(p.name.split("-")[-1]), default=None)


def to_trl_dataset(tasks: Sequence[SelectionTask]):
    """Conversational prompts (TRL applies the chat template, as the hf backend does at evaluation);
    TRL hands the other columns to the reward function as keyword arguments."""
    from datasets import Dataset

    # The boundary to Hugging Face datasets, which takes plain dicts: the tasks are model_dump-ed here.
    columns = {"n_candidates", "correct_positions", "task_id"}
    return Dataset.from_list([{"prompt": [{"role": "user", "content": t.prompt}],
                               **t.model_dump(mode="json", include=columns)} for t in tasks])


@dataclass
class TrainOutcome:
    trainer: Any
    steps: int  # rollout steps taken (generation batches trained on)
    optimizer_steps: int  # TRL's global_step
    plan: dict[str, int]  # trainers.dapo_config.StepPlan: rollout steps and their TRL conversion
    sampling_history: list[dict[str, Any]]
    log_history: list[dict[str, Any]]
    seconds: float
    resumed_from: int | None = None  # the rollout step of the checkpoint this run went on from


def train_dapo(tasks: Sequence[SelectionTask], model_path: str, dapo: Mapping[str, Any],
               output_dir: str, *, dtype: str | None = None, lora: LoraOptions | None = None,
               adapter: str | None = None, resume: bool = False) -> TrainOutcome:
    """Run DAPO on the selection tasks; the caller saves the model (trainer.save_model).

    With `lora` enabled only an adapter on model_path trains: the one saved in `adapter` (the
    format warm-up's) when given, else a fresh one; trainer.save_model then saves the adapter.
    `resume`: go on from the newest complete checkpoint in output_dir (dapo.save_steps), if any."""
    import time

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainers.reward import SelectionReward

    dapo = {**DAPO_DEFAULTS, **dapo}
    args = grpo_config(dapo, output_dir)
    plan = step_plan(dapo)
    torch_dtype = getattr(torch, dtype) if dtype else (torch.bfloat16 if args.bf16 else torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch_dtype)
    if lora is not None and lora.enable:
        model = with_saved_adapter(model, adapter) if adapter else with_new_adapter(model, lora)
    overlong = dapo.get("overlong") or {}
    reward = SelectionReward(max_completion_length=args.max_completion_length,
                             overlong_cache=int(overlong.get("cache", 0)) if overlong.get("enable") else 0,
                             overlong_factor=float(overlong.get("factor", 1.0)))
    sampling = dapo.get("dynamic_sampling") or {}
    trainer = _trainer_class()(
        model=model, reward_funcs=[reward], args=args, train_dataset=to_trl_dataset(tasks),
        processing_class=tokenizer, dynamic_sampling=bool(sampling.get("enable", True)),
        max_num_gen_batches=int(sampling.get("max_num_gen_batches", 10)),
        on_shortfall=str(sampling.get("on_shortfall", "pad")),
        filter_metric=str(sampling.get("metric", "acc")))
    if dapo.get("max_minutes"):
        from trainers.wall_clock import wall_clock_callback

        trainer.add_callback(wall_clock_callback(float(dapo["max_minutes"])))
    checkpoint = latest_checkpoint(output_dir) if resume else None
    resumed_from = None
    if checkpoint is not None:
        trainer.restore_dapo_state(str(checkpoint))
        resumed_from = trainer.rollout_steps
        print(f"[dapo] resuming from {checkpoint.name}: rollout step {trainer.rollout_steps}", flush=True)
    start = time.time()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint is not None else None)
    return TrainOutcome(trainer=trainer, steps=int(trainer.rollout_steps),
                        optimizer_steps=int(trainer.state.global_step), plan=plan.to_json(),
                        sampling_history=list(trainer.sampling_history),
                        log_history=list(trainer.state.log_history),
                        seconds=time.time() - start,
                        resumed_from=resumed_from)
