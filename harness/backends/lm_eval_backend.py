"""Generate through an lm-evaluation-harness model: `--backend lm-eval:<model type>`.

LMEvalBackend(model, model_type="hf", model_args="", **extra) builds the model with lm-eval's
registry, `lm_eval.api.registry.get_model(model_type).create_from_arg_string(args)`, where args
is `pretrained=<model>` (a harness preset such as "smollm2-135m" is materialized to its local
folder first) joined with `model_args` ("k=v,k=v", e.g. "dtype=float32,device=cpu"); extra
keyword options are appended as k=v too. Requests go one at a time through the model's
`generate_until` with gen_kwargs {until, do_sample, temperature, top_p, top_k, max_gen_toks}.

Seeds: model types whose gen_kwargs carry a per-request `seed` (vllm, the OpenAI-compatible
local-completions / local-chat-completions / openai-* types) get `seed=request.seed`. The hf
types sample with torch's global RNG, so torch.manual_seed(request.seed) is set before each
request instead: repeated samples differ, and the same seed gives the same text again.
finish_reason is "length" when the completion reached max_tokens tokens (by the model's
tokenizer, where it has one), else "stop".
"""

from __future__ import annotations

from typing import Any, Sequence

from harness.backends.base import BackendError, GenRequest, GenResult, as_chat

SEED_IN_GEN_KWARGS = frozenset({"vllm", "local-completions", "local-chat-completions",
                                "openai-completions", "openai-chat-completions"})
TORCH_SEEDED = frozenset({"hf", "hf-auto", "huggingface", "hf-multimodal", "steered"})


class LMEvalBackend:
    """any lm-eval model type: --backend lm-eval:<type> (hf, vllm, local-chat-completions, ...)"""

    name = "lm-eval"

    def __init__(self, model: str, model_type: str = "hf", model_args: str = "", **options: Any) -> None:
        try:
            from lm_eval.api.registry import get_model
        except ImportError as exc:  # pragma: no cover - depends on the environment
            from harness.errors import MissingPrerequisiteError

            raise MissingPrerequisiteError.package("lm-eval", "lm-eval",
                                                   purpose="the lm-eval backend") from exc
        self.model = model
        self.model_type = model_type
        pretrained = model
        if model_type in TORCH_SEEDED or model_type == "vllm":
            from harness.models import PRESETS, materialize
            if model in PRESETS:
                pretrained = materialize(model)
        parts = [] if "pretrained=" in model_args or "model=" in model_args else [f"pretrained={pretrained}"]
        parts += [p for p in model_args.split(",") if p.strip()]
        parts += [f"{k}={v}" for k, v in options.items()]
        if model_type in TORCH_SEEDED and not any(p.startswith("device=") for p in parts):
            # lm-eval's hf model defaults to cuda; on a CPU box use the CPU in fp32 (bf16 is slow there).
            import torch

            if not torch.cuda.is_available():
                parts += ["device=cpu"] + ([] if any(p.startswith("dtype=") for p in parts)
                                           else ["dtype=float32"])
        self.arg_string = ",".join(parts)
        try:
            self.lm = get_model(model_type).create_from_arg_string(self.arg_string, {})
        except Exception as exc:
            raise BackendError(f"lm-eval model {model_type!r} ({self.arg_string}) failed to load: "
                               f"{exc}") from exc

    # -- helpers ----------------------------------------------------------------------------------
    def _context(self, request: GenRequest) -> str:
        if request.prompt is not None:
            return request.prompt
        chat = as_chat(request.messages)
        if not hasattr(self.lm, "apply_chat_template"):
            raise BackendError(f"lm-eval model {self.model_type!r} has no chat template for messages")
        return self.lm.apply_chat_template(chat)

    def _gen_kwargs(self, request: GenRequest) -> dict[str, Any]:
        p = request.params
        kwargs: dict[str, Any] = {"until": list(p.stop), "max_gen_toks": p.max_tokens}
        if p.temperature > 0:
            kwargs.update(do_sample=True, temperature=p.temperature, top_p=p.top_p)
            if p.top_k is not None:
                kwargs["top_k"] = p.top_k
        else:
            kwargs.update(do_sample=False, temperature=0.0)
        if self.model_type in SEED_IN_GEN_KWARGS:
            kwargs["seed"] = request.seed
        return kwargs

    def _count(self, text: str) -> int | None:
        try:
            return len(self.lm.tok_encode(text))
        except Exception:
            return None

    # -- Backend protocol -------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenRequest], *, progress: bool = True) -> list[GenResult]:
        from lm_eval.api.instance import Instance

        results = []
        for i, request in enumerate(requests):
            context = self._context(request)
            if self.model_type in TORCH_SEEDED:
                import torch
                torch.manual_seed(request.seed)
            instance = Instance(request_type="generate_until", doc={}, idx=0,
                                arguments=(context, self._gen_kwargs(request)),
                                metadata=("harness", i, 1))
            try:
                (text,) = self.lm.generate_until([instance], disable_tqdm=True)
            except TypeError:  # models whose generate_until takes no disable_tqdm
                (text,) = self.lm.generate_until([instance])
            tokens = self._count(text)
            finish = "length" if tokens is not None and tokens >= request.params.max_tokens else "stop"
            results.append(GenResult(text=text, finish_reason=finish,
                                     prompt_tokens=self._count(context), completion_tokens=tokens))
        return results

    def close(self) -> None:
        self.lm = None
