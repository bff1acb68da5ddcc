"""In-process llama.cpp backend (llama-cpp-python's `Llama`): fast CPU decoding of a GGUF.

Install with `.ci/install_llama_cpp.sh` (llama-cpp-python compiles llama.cpp from source).
Requests run one after another, grouped so that requests with the same prompt run back to back
(llama.cpp then reuses the prompt's KV cache: N samples of one prompt evaluate it once). Each call
sets its own seed (`seed=` of create_completion / create_chat_completion, i.e. `Llama.set_seed`),
so the text of a request depends only on (model, prompt, params, seed). On CPU the last-token
logits are bitwise the same whether the prompt was evaluated in one batch or as a cached prefix
plus a suffix (checked for llama-cpp-python 0.3.36); `reuse_prefix=False` resets the KV cache
before every request for builds where that does not hold. llama.cpp seeds are 32-bit: wider seeds
are folded (high ^ low 32 bits), and 0xFFFFFFFF ("random" to llama.cpp) is avoided.

Sampling is exactly temperature / top-p / top-k from SamplingParams: llama.cpp's extra defaults
(min_p 0.05, top_k 40, repeat penalty) are switched off so the distribution matches the hf and
vLLM backends.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from harness.backends.base import BackendError, GenRequest, GenResult, as_chat
from harness.progress import progress_bar

_LLAMA_RANDOM_SEED = 0xFFFFFFFF


def llama_seed(seed: int) -> int:
    """A request seed as the uint32 llama.cpp takes, never its 'random seed' sentinel."""
    s = int(seed) & 0xFFFFFFFFFFFFFFFF
    s = (s ^ (s >> 32)) & 0xFFFFFFFF
    return s - 1 if s == _LLAMA_RANDOM_SEED else s


def resolve_gguf(model: str | os.PathLike) -> Path:
    """A .gguf path, or a preset name whose weights are an embedded GGUF (e.g. smollm2-135m)."""
    from harness.models import PRESETS, embedded_gguf_path

    text = str(model)
    if text in PRESETS:
        hf_id = PRESETS[text].hf_id
        if not hf_id.startswith("embedded:"):
            raise BackendError(f"the llamacpp backend needs a GGUF file; preset {text!r} is the hub "
                               f"model {hf_id}")
        return embedded_gguf_path()
    path = Path(text).expanduser()
    if not path.is_file():
        raise BackendError(f"the llamacpp backend needs a GGUF file or an embedded preset name, got {text!r}")
    return path


def _prompt_key(request: GenRequest) -> tuple:
    return (0, request.prompt) if request.prompt is not None else (1, request.messages)


class LlamaCppBackend:
    """in-process llama.cpp (fast CPU decoding of GGUF)"""

    name = "llamacpp"

    def __init__(self, model: str | os.PathLike = "smollm2-135m", n_ctx: int = 2048, chat: bool = True,
                 n_threads: int | None = None, *, gguf_path: str | os.PathLike | None = None,
                 reuse_prefix: bool = True, verbose: bool = False) -> None:
        """`model` is a .gguf path or an embedded preset name (`gguf_path=` is an alias).

        `n_threads` (decode and prompt threads) defaults to llama-cpp-python's choice: half the
        logical cores for decoding, all of them for prompt processing.
        `reuse_prefix=False` evaluates every prompt from scratch (see the module docstring).
        """
        try:
            import llama_cpp
        except ImportError as exc:
            from harness.errors import MissingPrerequisiteError

            raise MissingPrerequisiteError.package(
                "llama-cpp-python", purpose="the llamacpp backend",
                install="bash .ci/install_llama_cpp.sh (or pip install llama-cpp-python)") from exc
        path = resolve_gguf(gguf_path if gguf_path is not None else model)
        self.gguf_path = path
        self.model = str(model) if gguf_path is None else str(gguf_path)
        self.chat = chat
        self.reuse_prefix = reuse_prefix
        self.n_threads = n_threads
        threads: dict[str, Any] = {"n_threads": n_threads, "n_threads_batch": n_threads} if n_threads else {}
        self.llm: Any  # llama_cpp.Llama (its typed API does not take our **kwargs); None once closed
        try:
            self.llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, verbose=verbose, **threads)
        except Exception as exc:  # llama_cpp raises ValueError / RuntimeError on a bad file
            raise BackendError(f"llama.cpp could not load {path}: {exc}") from exc

    def generate(self, requests: Sequence[GenRequest], *, progress: bool = True) -> list[GenResult]:
        results: list[GenResult | None] = [None] * len(requests)
        # Same prompt back to back (stable sort: request order within a prompt) for KV-cache reuse.
        order = sorted(range(len(requests)), key=lambda i: _prompt_key(requests[i]))
        with progress_bar(total=len(requests), desc=f"generate[{self.model}]", unit="req",
                          enabled=progress) as bar:
            for i in order:
                results[i] = self._one(requests[i])
                bar.update(1)
        return [r for r in results if r is not None]

    def _one(self, request: GenRequest) -> GenResult:
        if self.llm is None:
            raise BackendError("the llamacpp backend is closed")
        p = request.params
        kwargs: dict[str, Any] = dict(temperature=p.temperature, top_p=p.top_p, top_k=p.top_k or 0, min_p=0.0,
                      repeat_penalty=1.0, max_tokens=p.max_tokens, stop=list(p.stop) or None,
                      seed=llama_seed(request.seed))
        if not self.reuse_prefix:
            self.llm.reset()
        try:
            if request.messages is not None:
                if not self.chat:
                    raise BackendError("this llamacpp backend was created with chat=False but a request "
                                       "carries chat messages; send a raw prompt or use chat=True")
                out = self.llm.create_chat_completion(messages=as_chat(request.messages), **kwargs)
                choice = out["choices"][0]
                text = choice["message"].get("content") or ""
            else:
                out = self.llm.create_completion(prompt=request.prompt, **kwargs)
                choice = out["choices"][0]
                text = choice.get("text") or ""
        except BackendError:
            raise
        except ValueError as exc:  # e.g. "Requested tokens (...) exceed context window"
            raise BackendError(f"llama.cpp rejected the request: {exc}") from exc
        usage = out.get("usage") or {}
        return GenResult(text=text,
                         finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
                         prompt_tokens=usage.get("prompt_tokens"),
                         completion_tokens=usage.get("completion_tokens"))

    def close(self) -> None:
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None and hasattr(llm, "close"):
            llm.close()
