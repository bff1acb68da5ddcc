"""Registry of trained selector checkpoints: results/checkpoints/index.jsonl.

The trainer appends one entry per finished training run (name, path, base model, training
data, steps, config hash, metrics); `rl-genselect` resolves the newest entry or a named one, and
its run records and leaderboard rows carry the checkpoint's name.

Shipped checkpoints: a folder `shipped/<name>/` holding `checkpoint.json` (the same entry, with
its training record) beside a small model (a LoRA adapter) needs no registration. They are found
under the results tree in use and under this checkout's own `results/shipped/` (so the main job
runs rl-genselect with no training first, whatever --results-dir says). A local checkpoint newer
than the shipped one wins: resolution takes the newest of all.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from harness.errors import CheckpointError
from harness.jsonl import Appender, read_records

INDEX = "index.jsonl"
SHIPPED = "shipped"
MANIFEST = "checkpoint.json"
REPO_SHIPPED = Path(__file__).resolve().parents[1] / "results" / SHIPPED


class NoCheckpointError(CheckpointError, LookupError):
    """rl-genselect was asked for but no trained checkpoint is registered."""


def checkpoints_dir(results_dir: str | Path) -> Path:
    return Path(results_dir) / "checkpoints"


def list_checkpoints(results_dir: str | Path) -> list[dict[str, Any]]:
    path = checkpoints_dir(results_dir) / INDEX
    if not path.exists():
        return []
    _, rows = read_records(path, "checkpoints")
    return [{k: v for k, v in row.items() if k != "_line"} for row in rows]


def register_checkpoint(results_dir: str | Path, entry: dict[str, Any]) -> dict[str, Any]:
    for key in ("name", "path", "base_model"):
        if key not in entry:
            raise ValueError(f"a checkpoint entry needs {key!r}")
    entry = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "created_unix": time.time(),
             **entry}
    with Appender(checkpoints_dir(results_dir) / INDEX, "checkpoints", {}) as out:
        out.write(entry)
    return entry


def shipped_checkpoints(results_dir: str | Path) -> list[dict[str, Any]]:
    """Entries of the shipped checkpoints (results_dir/shipped, then this checkout's), path filled in."""
    out, seen = [], set()
    for root in (Path(results_dir) / SHIPPED, REPO_SHIPPED):
        for manifest in sorted(root.glob(f"*/{MANIFEST}")) if root.is_dir() else ():
            folder = manifest.parent.resolve()
            if folder in seen:
                continue
            seen.add(folder)
            try:
                entry = json.loads(manifest.read_text())
            except (OSError, ValueError) as exc:
                raise CheckpointError(f"{manifest}: not a readable checkpoint manifest ({exc})") from exc
            out.append({**entry, "path": str(folder), "shipped": True})
    return out


def check_model_folder(path: str | Path) -> None:
    """A checkpoint folder must hold a loadable model: a LoRA adapter (config and weights) or a
    whole model (config and every weight file its index names). A folder missing one would
    otherwise load as something else (peft fills missing adapter weights with a no-op)."""
    folder = Path(path)
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint folder {folder} does not exist")
    if (folder / "adapter_config.json").is_file():
        if not any((folder / f).is_file() for f in ("adapter_model.safetensors", "adapter_model.bin")):
            raise CheckpointError(f"checkpoint folder {folder} is a LoRA adapter without its weights "
                                  "(adapter_model.safetensors is missing)")
        return
    if not (folder / "config.json").is_file():
        raise CheckpointError(f"checkpoint folder {folder} holds no model: neither adapter_config.json "
                              "nor config.json")
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = folder / index_name
        if index.is_file():
            shards = sorted(set(json.loads(index.read_text()).get("weight_map", {}).values()))
            missing = [s for s in shards if not (folder / s).is_file()]
            if missing:
                raise CheckpointError(f"checkpoint folder {folder} misses weight files its {index_name} "
                                      f"names: {', '.join(missing[:3])}")
            return
    if not any((folder / f).is_file() for f in ("model.safetensors", "pytorch_model.bin")):
        raise CheckpointError(f"checkpoint folder {folder} has config.json but no weights "
                              "(model.safetensors is missing)")


def resolve_checkpoint(results_dir: str | Path, name_or_path: str | None = None) -> dict[str, Any]:
    entry = _resolve(results_dir, name_or_path)
    check_model_folder(entry["path"])
    return entry


def _resolve(results_dir: str | Path, name_or_path: str | None = None) -> dict[str, Any]:
    if name_or_path and Path(name_or_path).is_dir():
        manifest = Path(name_or_path) / MANIFEST
        if manifest.is_file():
            return {**json.loads(manifest.read_text()), "path": str(Path(name_or_path))}
        return {"name": Path(name_or_path).name, "path": str(Path(name_or_path))}
    entries = list_checkpoints(results_dir) + shipped_checkpoints(results_dir)
    if name_or_path:
        named = [e for e in entries if e["name"] == name_or_path]
        if not named:
            known = ", ".join(e["name"] for e in entries) or "(none)"
            raise NoCheckpointError(f"no checkpoint named {name_or_path!r} under "
                                    f"{checkpoints_dir(results_dir)}; registered: {known}")
        return named[-1]
    if not entries:
        raise NoCheckpointError(
            "rl-genselect needs a trained selector, and none is registered under "
            f"{checkpoints_dir(results_dir)}. "
            "Train one with `python -m harness train --config trainers/configs/cpu-smoke.yaml`, "
            "or name a model folder with --checkpoint PATH.")
    # newest wins; a shipped copy of the same checkpoint wins the tie (one judge path, one cache key)
    return max(entries, key=lambda e: (e.get("created_unix", 0), bool(e.get("shipped"))))


# Files of a checkpoint folder that make a shipped copy: the model (a LoRA adapter, or a whole
# model's weights and tokenizer) and its training record; TRL's training_args.bin and peft's
# README.md stay behind, and so does the format warm-up's own adapter.
SHIP_FILES = ("adapter_config.json", "adapter_model.safetensors", "training.json", "curves.json",
              "curves.png", "config.json", "generation_config.json", "model.safetensors",
              "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")
SHIP_LIMIT_MB = 20.0


def ship_checkpoint(results_dir: str | Path, name: str, dest_root: str | Path | None = None,
                    *, limit_mb: float = SHIP_LIMIT_MB) -> Path:
    """Copy a registered checkpoint into <dest_root>/<name>/ with checkpoint.json, ready to commit.

    An adapter folder ships without the tokenizer (its base provides it). Refuses a copy over
    `limit_mb` (a whole fine-tuned model does not fit in a repository)."""
    import shutil

    entry = resolve_checkpoint(results_dir, name)
    source = Path(entry["path"])
    adapter = (source / "adapter_config.json").is_file()
    files = [source / f for f in SHIP_FILES if (source / f).is_file()
             and not (adapter and f.startswith(("tokenizer", "special_tokens", "chat_template")))]
    size_mb = sum(f.stat().st_size for f in files) / 2**20
    if size_mb > limit_mb:
        raise CheckpointError(f"checkpoint {name} is {size_mb:.1f} MB, over the {limit_mb:.0f} MB a shipped "
                              "checkpoint may have; train a LoRA adapter (lora.enable in the training "
                              "config)")
    target = Path(dest_root or Path(results_dir) / SHIPPED) / entry["name"]
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in files:
        shutil.copy2(f, tmp / f.name)
    manifest = {k: v for k, v in entry.items() if k not in ("path", "_line", "shipped")}
    manifest["shipped_mb"] = round(size_mb, 2)
    manifest["shipped_files"] = sorted(f.name for f in files)
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target
