"""The `dapo:` section of a training config: every key with its default, and the GRPOConfig it becomes.

Defaults are the paper's numbers (PAPER.md, RL recipe); the CPU configs override what a small
machine needs. `grpo_config` also checks the batch arithmetic (completions per step must split
into whole micro-batches) before TRL would fail on it mid-run.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

DAPO_DEFAULTS: dict[str, Any] = {
    "max_steps": 100,
    "prompts_per_step": 128,  # selection tasks per optimizer step (the paper: 128)
    "num_generations": 16,  # rollouts per task (the paper: 16 math, 8 code)
    "per_device_train_batch_size": 16,  # completions per micro-batch per process
    "updates_per_step": 1,  # optimizer updates per generation batch (verl: train / mini batch)
    "max_completion_length": 16384,
    "learning_rate": 1e-6,
    "lr_scheduler_type": "constant_with_warmup",
    "warmup_steps": 0,
    "weight_decay": 0.0,
    "max_grad_norm": 1.0,
    "epsilon": 0.2,
    "epsilon_high": 0.28,
    "beta": 0.0,
    "loss_type": "dapo",
    "scale_rewards": "group",
    "mask_truncated_completions": True,
    "temperature": 1.0,
    "top_p": 1.0,
    "top_k": 0,
    "num_iterations": 1,
    "seed": 0,
    "bf16": None,  # None: True on CUDA, False on CPU
    "gradient_checkpointing": False,
    "use_vllm": False,
    "vllm_mode": "colocate",
    "vllm_gpu_memory_utilization": 0.3,
    "vllm_tensor_parallel_size": 1,
    "chat_template_kwargs": None,
    "logging_steps": 1,
    "max_minutes": None,  # wall-clock budget: stop at the first step boundary past it (None: max_steps only)
    "dynamic_sampling": {"enable": True, "metric": "acc", "max_num_gen_batches": 10, "on_shortfall": "pad"},
    "overlong": {"enable": False, "cache": 4096, "factor": 1.0},
}


def num_processes() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def grpo_config(dapo: Mapping[str, Any], output_dir: str, *, cuda: bool | None = None, processes: int | None = None):
    """The GRPOConfig for our `dapo:` config section (validated, with the batch arithmetic)."""
    import torch
    from trl import GRPOConfig

    cuda = torch.cuda.is_available() if cuda is None else cuda
    processes = processes or num_processes()
    group = int(dapo["num_generations"])
    completions = int(dapo["prompts_per_step"]) * group
    micro = int(dapo["per_device_train_batch_size"]) * processes
    updates = int(dapo.get("updates_per_step", 1))
    if completions % (micro * updates):
        raise ValueError(f"prompts_per_step x num_generations = {completions} completions per step must be a "
                         f"multiple of per_device_train_batch_size x processes x updates_per_step = {micro * updates}")
    accumulation = completions // (micro * updates)
    bf16 = dapo.get("bf16")
    bf16 = bool(cuda) if bf16 is None else bool(bf16)
    if bf16 and not cuda:
        raise ValueError("bf16 training needs CUDA; set dapo.bf16: false on CPU")
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
