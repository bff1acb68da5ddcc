"""The `dapo:` section of a training config: every key with its default, and the GRPOConfig it becomes.

`DapoSection` is the typed section (unknown keys refused at any depth, see trainers.config);
`DAPO_DEFAULTS` is its dump, the one copy of the defaults. Defaults are the paper's numbers
(PAPER.md, RL recipe); the CPU configs override what a small machine needs. `grpo_config` also
checks the batch arithmetic (completions per step must split into whole micro-batches) before
TRL would fail on it mid-run.
"""

from __future__ import annotations

import os
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import ConfigError, MissingPrerequisiteError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DynamicSampling(_Section):
    enable: bool = True
    metric: Literal["acc", "reward"] = "acc"
    max_num_gen_batches: int = Field(default=10, ge=1)
    on_shortfall: Literal["pad", "error"] = "pad"


class Overlong(_Section):
    enable: bool = False
    cache: int = Field(default=4096, ge=0)
    factor: float = 1.0


class DapoSection(_Section):
    """The `dapo:` section; defaults are the paper's numbers (PAPER.md, RL recipe)."""

    max_steps: int = Field(default=100, ge=1)
    prompts_per_step: int = Field(default=128, ge=1)  # selection tasks per optimizer step (the paper: 128)
    num_generations: int = Field(default=16, ge=2)  # rollouts per task (the paper: 16 math, 8 code)
    per_device_train_batch_size: int = Field(default=16, ge=1)  # completions per micro-batch per process
    # optimizer updates per generation batch (verl: train/mini batch)
    updates_per_step: int = Field(default=1, ge=1)
    max_completion_length: int = Field(default=16384, ge=1)
    learning_rate: float = 1e-6
    lr_scheduler_type: str = "constant_with_warmup"
    warmup_steps: int = Field(default=0, ge=0)
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    epsilon: float = 0.2
    epsilon_high: float = 0.28
    beta: float = 0.0
    loss_type: str = "dapo"
    scale_rewards: str | bool = "group"
    mask_truncated_completions: bool = True
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int | None = 0
    num_iterations: int = Field(default=1, ge=1)
    seed: int = 0
    bf16: bool | None = None  # None: True on CUDA, False on CPU
    gradient_checkpointing: bool = False
    use_vllm: bool = False
    vllm_mode: Literal["colocate", "server"] = "colocate"
    vllm_gpu_memory_utilization: float = Field(default=0.3, gt=0, le=1)
    vllm_tensor_parallel_size: int = Field(default=1, ge=1)
    chat_template_kwargs: dict[str, Any] | None = None
    logging_steps: int = Field(default=1, ge=1)
    # wall-clock budget: stop at the first step boundary after
    max_minutes: float | None = Field(default=None, gt=0)
    dynamic_sampling: DynamicSampling = Field(default_factory=DynamicSampling)
    overlong: Overlong = Field(default_factory=Overlong)


DAPO_DEFAULTS: dict[str, Any] = DapoSection().model_dump()


def num_processes() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def grpo_config(dapo: Mapping[str, Any], output_dir: str, *, cuda: bool | None = None,
                processes: int | None = None):
    """The GRPOConfig for our `dapo:` config section (validated, with the batch arithmetic)."""
    import torch

    try:
        from trl import GRPOConfig
    except ImportError as exc:
        raise MissingPrerequisiteError.package("trl", "train", purpose="DAPO training") from exc

    cuda = torch.cuda.is_available() if cuda is None else cuda
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
    bf16 = dapo.get("bf16")
    bf16 = bool(cuda) if bf16 is None else bool(bf16)
    if bf16 and not cuda:
        raise ConfigError("bf16 training needs CUDA; set dapo.bf16: false on CPU")
    kwargs: dict[str, Any] = dict(
        output_dir=output_dir, max_steps=int(dapo["max_steps"]), num_generations=group,
        per_device_train_batch_size=int(dapo["per_device_train_batch_size"]),
        gradient_accumulation_steps=accumulation, steps_per_generation=accumulation * updates,
        max_completion_length=int(dapo["max_completion_length"]), learning_rate=float(dapo["learning_rate"]),
        lr_scheduler_type=dapo["lr_scheduler_type"], warmup_steps=int(dapo["warmup_steps"]),
        weight_decay=float(dapo["weight_decay"]), max_grad_norm=float(dapo["max_grad_norm"]),
        epsilon=float(dapo["epsilon"]), epsilon_high=float(dapo["epsilon_high"]), beta=float(dapo["beta"]),
        loss_type=dapo["loss_type"], scale_rewards=dapo["scale_rewards"],
        mask_truncated_completions=bool(dapo["mask_truncated_completions"]),
        temperature=float(dapo["temperature"]), top_p=float(dapo["top_p"]), top_k=int(dapo["top_k"] or 0),
        num_iterations=int(dapo["num_iterations"]), seed=int(dapo["seed"]), bf16=bf16, fp16=False,
        use_cpu=not cuda, gradient_checkpointing=bool(dapo["gradient_checkpointing"]),
        use_vllm=bool(dapo["use_vllm"]), logging_steps=int(dapo["logging_steps"]), save_strategy="no",
        report_to=[], remove_unused_columns=False, shuffle_dataset=True, disable_tqdm=True,
    )
    if dapo.get("chat_template_kwargs"):
        kwargs["chat_template_kwargs"] = dict(dapo["chat_template_kwargs"])
    if kwargs["use_vllm"]:
        kwargs.update(vllm_mode=dapo["vllm_mode"],
                      vllm_gpu_memory_utilization=float(dapo["vllm_gpu_memory_utilization"]),
                      vllm_tensor_parallel_size=int(dapo["vllm_tensor_parallel_size"]))
    return GRPOConfig(**kwargs)
