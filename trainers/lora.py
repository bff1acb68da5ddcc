"""LoRA adapters for the trainer: what makes a trained selector small enough to ship.

A full fine-tune of the embedded 135M judge is a 540 MB fp32 folder; a rank-8 adapter on every
linear layer is ~10 MB. With `lora.enable` the format warm-up trains a fresh adapter, DAPO
continues training that same adapter (TRL's GRPOTrainer takes the PeftModel as is; beta = 0, so
no reference copy is needed), and the checkpoint folder holds only the adapter.

The saved adapter names its base by the name the harness resolves (`smollm2-135m`, a preset),
not by the absolute path of the fp32 conversion on the training machine, so a checkpoint copied
to another machine loads there (harness.models.load_causal_lm merges it into that base).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from harness.config import options_from_mapping
from harness.errors import MissingPrerequisiteError

# Every linear layer of a Llama-style block (SmolLM2, Qwen, Gemma name them alike).
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class LoraOptions:
    """`lora:` of a training config."""

    enable: bool = False
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ALL_LINEAR

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "LoraOptions":
        data = dict(data or {})
        if "target_modules" in data:
            data["target_modules"] = tuple(data["target_modules"])
        return options_from_mapping(cls, data, "lora")

    def peft_config(self):
        try:
            from peft import LoraConfig
        except ImportError as exc:
            raise MissingPrerequisiteError.package("peft", "train", purpose="LoRA training") from exc
        return LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout,
                          target_modules=list(self.target_modules), task_type="CAUSAL_LM", bias="none")


def with_new_adapter(model, opts: LoraOptions):
    """The model wrapped with a fresh trainable adapter (the base weights frozen)."""
    from peft import get_peft_model

    return get_peft_model(model, opts.peft_config())


def with_saved_adapter(model, adapter_dir: str):
    """The model wrapped with the adapter saved in adapter_dir, trainable (to continue training it)."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, adapter_dir, is_trainable=True)


def name_base(adapter_dir: str | Path, base_model: str) -> None:
    """Point the saved adapter at its base by harness name (a preset, hub id or folder)."""
    path = Path(adapter_dir) / "adapter_config.json"
    config = json.loads(path.read_text())
    config["base_model_name_or_path"] = base_model
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def adapter_megabytes(adapter_dir: str | Path) -> float:
    return round(sum(f.stat().st_size for f in Path(adapter_dir).iterdir() if f.is_file()) / 2**20, 2)
