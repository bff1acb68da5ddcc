"""The `dapo:` section of a training config: every key with its default, and the GRPOConfig it becomes.

`DapoSection` is the typed section (unknown keys refused at any depth, see trainers.config);
`DAPO_DEFAULTS` is its dump, the one copy of the defaults. Defaults are the paper's numbers
(PAPER.md, RL recipe); the CPU configs override what a small machine needs. `grpo_config` also
checks the batch arithmetic (completions per step must split into whole micro-batches) before
TRL would fail on it mid-run.

Step semantics (DESIGN.md section 12). `max_steps` and `warmup_steps` count ROLLOUT steps, as
verl and the DAPO paper do: one step = one generation batch of prompts_per_step x num_generations
completions, however many optimizer updates it feeds. TRL (1.16) counts optimizer steps:
GRPOTrainer generates once every `steps_per_generation * num_iterations` micro-batches
(trl/trainer/grpo_trainer.py, `_prepare_inputs`: `generate_every`), and the transformers Trainer
steps the optimizer (and the lr scheduler) once every `gradient_accumulation_steps` micro-batches.
`step_plan` sets gradient_accumulation_steps = completions / (micro-batch x processes x
updates_per_step) and steps_per_generation = accumulation x updates_per_step, so one rollout step
is U = updates_per_step x num_iterations optimizer steps, and TRL gets max_steps = R x U,
warmup_steps = W x U and logging_steps = logging x U (one log row per rollout step). verl steps
its lr scheduler once per rollout step (the lr is constant within one); `rollout_lr_scheduler`
does the same in TRL (DAPOTrainer.create_scheduler), so the warm-up matches step for step.

TRL's vLLM importance-sampling correction (`vllm_importance_sampling_correction`, TRL default
True: a per-sequence mask on the vLLM/trainer log-prob ratio) is not part of DAPO: it is passed
as False unless `dapo.vllm_importance_sampling_correction` asks for it.
"""

from __future__ import annotations

import functools
import os
from dataclasses import asdict, dataclass
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.errors import ConfigError, MissingPrerequisiteError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DynamicSampling(_Section):
    enable: bool = True
    metric: Literal["acc", "reward"] = "acc"
    max_num_gen_batches: int = Field(default=10, ge=1)
    on_shortfall: Literal["pad", "error"] = "pad"


class Overlong(_Section):
    """DAPO's soft overlong punishment (reward shaping). With L_max = max_completion_length and
    B = cache (verl: overlong_buffer.len), a completion of L tokens gets 0 for L <= L_max - B, then
    -factor * (L - (L_max - B)) / B, reaching -factor at L_max, added to its 0/1 reward.
    Off by default; the other overlong rule, masking truncated completions out of the loss, is
    `mask_truncated_completions` (on by default). The paper configs use both, as DAPO does."""

    enable: bool = False
    cache: int = Field(default=4096, ge=0)
    factor: float = 1.0


class DapoSection(_Section):
    """The `dapo:` section; defaults are the paper's numbers (PAPER.md, RL recipe)."""

    # rollout steps (verl/DAPO training steps), each one generation batch; TRL gets x updates
    max_steps: int = Field(default=100, ge=1)
    prompts_per_step: int = Field(default=128, ge=1)  # selection tasks per rollout step (the paper: 128)
    num_generations: int = Field(default=16, ge=2)  # rollouts per task (the paper: 16 math, 8 code)
    per_device_train_batch_size: int = Field(default=16, ge=1)  # completions per micro-batch per process
    # optimizer updates per rollout step (verl: train_batch_size / ppo_mini_batch_size)
    updates_per_step: int = Field(default=1, ge=1)
    max_completion_length: int = Field(default=16384, ge=1)
    learning_rate: float = 1e-6
    lr_scheduler_type: str = "constant_with_warmup"
    warmup_steps: int = Field(default=0, ge=0)  # lr warm-up, in rollout steps (verl: lr_warmup_steps)
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    epsilon: float = 0.2
    epsilon_high: float = 0.28
    beta: float = 0.0
    loss_type: str = "dapo"
    scale_rewards: str | bool = "group"
    mask_truncated_completions: bool = True  # overlong filtering: no loss on completions cut at L_max
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int | None = 0
    num_iterations: int = Field(default=1, ge=1)  # passes over each rollout batch (verl: ppo_epochs)
    seed: int = 0
    bf16: bool | None = None  # None: True on CUDA, False on CPU
    gradient_checkpointing: bool = False
    use_vllm: bool = False
    vllm_mode: Literal["colocate", "server"] = "colocate"
    vllm_gpu_memory_utilization: float = Field(default=0.3, gt=0, le=1)
    vllm_tensor_parallel_size: int = Field(default=1, ge=1)
    # TRL's vLLM importance-sampling mask (TRL's default is on); DAPO has none, so off unless asked
    vllm_importance_sampling_correction: bool = False
    chat_template_kwargs: dict[str, Any] | None = None
    logging_steps: int = Field(default=1, ge=1)  # in rollout steps
    # a resumable checkpoint (weights, optimizer, lr schedule, RNG, data position, the DAPO
    # step count and curves) every this many rollout steps, for `train --resume`; 0 = none
    save_steps: int = Field(default=10, ge=0)
    # wall-clock budget: stop at the first rollout-step boundary after
    max_minutes: float | None = Field(default=None, gt=0)
    dynamic_sampling: DynamicSampling = Field(default_factory=DynamicSampling)
    overlong: Overlong = Field(default_factory=Overlong)

    @model_validator(mode="after")
    def _overlong_buffer_fits(self):
        if self.overlong.enable and not 0 < self.overlong.cache < self.max_completion_length:
            raise ValueError(f"overlong.cache ({self.overlong.cache}) must be between 1 and "
                             f"max_completion_length - 1 ({self.max_completion_length - 1}) when enabled")
        return self


DAPO_DEFAULTS: dict[str, Any] = DapoSection().model_dump()


def num_processes() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


@dataclass(frozen=True)
class StepPlan:
    """The config's rollout steps and what TRL is told (module docstring, "Step semantics")."""

    rollout_steps: int  # dapo.max_steps: generation batches (verl's and DAPO's training steps)
    warmup_rollout_steps: int  # dapo.warmup_steps
    updates_per_rollout: int  # optimizer steps per rollout step: updates_per_step x num_iterations
    gradient_accumulation_steps: int  # micro-batches per optimizer step (TRL/transformers)
    steps_per_generation: int  # micro-batches per generation batch (TRL)
    trl_max_steps: int  # rollout_steps x updates_per_rollout (TRL counts optimizer steps)
    trl_warmup_steps: int  # warmup_rollout_steps x updates_per_rollout
    trl_logging_steps: int  # logging_steps x updates_per_rollout

    def to_json(self) -> dict[str, int]:
        return asdict(self)


def step_plan(dapo: Mapping[str, Any], processes: int | None = None) -> StepPlan:
    """Rollout steps -> TRL optimizer steps, with the batch arithmetic checked: the completions of
    one rollout step must split into updates_per_step x whole micro-batches on every process."""
    processes = processes or num_processes()
    group = int(dapo["num_generations"])
    completions = int(dapo["prompts_per_step"]) * group
    micro = int(dapo["per_device_train_batch_size"]) * processes
    updates = int(dapo.get("updates_per_step", 1))
    if completions % (micro * updates):
        raise ConfigError(f"prompts_per_step x num_generations = {completions} completions per step must "
                          "be a multiple of per_device_train_batch_size x processes x updates_per_step = "
                          f"{micro * updates}")
    accumulation = completions // (micro * updates)
    per_rollout = updates * int(dapo.get("num_iterations", 1))
    rollouts, warmup = int(dapo["max_steps"]), int(dapo.get("warmup_steps", 0))
    return StepPlan(rollout_steps=rollouts, warmup_rollout_steps=warmup, updates_per_rollout=per_rollout,
                    gradient_accumulation_steps=accumulation, steps_per_generation=accumulation * updates,
                    trl_max_steps=rollouts * per_rollout, trl_warmup_steps=warmup * per_rollout,
                    trl_logging_steps=int(dapo.get("logging_steps", 1)) * per_rollout)


def rollout_lr_scheduler(optimizer, name: str, *, warmup_rollout_steps: int, rollout_steps: int,
                         updates_per_rollout: int, scheduler_kwargs: Mapping[str, Any] | None = None):
    """An lr schedule counted in rollout steps, as verl's (stepped once per rollout step): the
    transformers schedule `name` over rollout_steps with warmup_rollout_steps, held constant over
    the updates_per_rollout optimizer steps of each rollout step. None for a schedule that is not
    a LambdaLR (e.g. reduce_lr_on_plateau); the caller then keeps TRL's own (warm-up x updates)."""
    import torch
    from torch.optim.lr_scheduler import LambdaLR
    from transformers.optimization import get_scheduler

    # The schedule's multiplier as a function of the step, read off a throwaway optimizer so the
    # real one is untouched; the transformers schedules are LambdaLRs over a step counter.
    probe = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    per_rollout = get_scheduler(name, optimizer=probe, num_warmup_steps=warmup_rollout_steps,
                                num_training_steps=rollout_steps,
                                scheduler_specific_kwargs=dict(scheduler_kwargs or {}))
    if not isinstance(per_rollout, LambdaLR):
        return None
    (multiplier,) = per_rollout.lr_lambdas
    return LambdaLR(optimizer, functools.partial(_per_rollout, multiplier, max(1, int(updates_per_rollout))))


def _per_rollout(lr_lambda, updates: int, optimizer_step: int) -> float:
    return lr_lambda(optimizer_step // updates)


def grpo_config(dapo: Mapping[str, Any], output_dir: str, *, cuda: bool | None = None,
                processes: int | None = None):
    """The GRPOConfig for our `dapo:` config section (validated, with the batch arithmetic);
    max_steps / warmup_steps / logging_steps converted from rollout steps (see step_plan)."""
    import torch

    try:
        from trl import GRPOConfig
    except ImportError as exc:
        raise MissingPrerequisiteError.package("trl", "train", purpose="DAPO training") from exc

    cuda = torch.cuda.is_available() if cuda is None else cuda
    plan = step_plan(dapo, processes)
    group = int(dapo["num_generations"])
    bf16 = dapo.get("bf16")
    bf16 = bool(cuda) if bf16 is None else bool(bf16)
    if bf16 and not cuda:
        raise ConfigError("bf16 training needs CUDA; set dapo.bf16: false on CPU")
    kwargs: dict[str, Any] = dict(
        output_dir=output_dir, max_steps=plan.trl_max_steps, num_generations=group,
        per_device_train_batch_size=int(dapo["per_device_train_batch_size"]),
        gradient_accumulation_steps=plan.gradient_accumulation_steps,
        steps_per_generation=plan.steps_per_generation,
        max_completion_length=int(dapo["max_completion_length"]), learning_rate=float(dapo["learning_rate"]),
        lr_scheduler_type=dapo["lr_scheduler_type"], warmup_steps=plan.trl_warmup_steps,
        weight_decay=float(dapo["weight_decay"]), max_grad_norm=float(dapo["max_grad_norm"]),
        epsilon=float(dapo["epsilon"]), epsilon_high=float(dapo["epsilon_high"]), beta=float(dapo["beta"]),
        loss_type=dapo["loss_type"], scale_rewards=dapo["scale_rewards"],
        mask_truncated_completions=bool(dapo["mask_truncated_completions"]),
        temperature=float(dapo["temperature"]), top_p=float(dapo["top_p"]), top_k=int(dapo["top_k"] or 0),
        num_iterations=int(dapo["num_iterations"]), seed=int(dapo["seed"]), bf16=bf16, fp16=False,
        use_cpu=not cuda, gradient_checkpointing=bool(dapo["gradient_checkpointing"]),
        use_vllm=bool(dapo["use_vllm"]), logging_steps=plan.trl_logging_steps,
        # the newest two: a kill while the newer one is written still leaves a complete one
        save_strategy="steps" if int(dapo.get("save_steps", 0)) else "no",
        save_steps=max(1, int(dapo.get("save_steps", 0))) * plan.updates_per_rollout, save_total_limit=2,
        vllm_importance_sampling_correction=bool(dapo.get("vllm_importance_sampling_correction", False)),
        report_to=[], remove_unused_columns=False, shuffle_dataset=True, disable_tqdm=True,
    )
    if dapo.get("chat_template_kwargs"):
        kwargs["chat_template_kwargs"] = dict(dapo["chat_template_kwargs"])
    if kwargs["use_vllm"]:
        kwargs.update(vllm_mode=dapo["vllm_mode"],
                      vllm_gpu_memory_utilization=float(dapo["vllm_gpu_memory_utilization"]),
                      vllm_tensor_parallel_size=int(dapo["vllm_tensor_parallel_size"]))
    return GRPOConfig(**kwargs)
