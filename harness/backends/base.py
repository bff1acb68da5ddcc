"""The backend protocol: a batch of generation requests in, one result per request out.

Every request carries its own seed, so "n samples" is always n requests with seeds s..s+n-1:
the same (model, prompt, params, seed) gives the same text on the same backend, repeated
samples differ, and servers that ignore `n > 1` need no special case. A backend may batch,
parallelise or group requests internally (vLLM groups a prompt's seeds into one call).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

from harness.errors import BackendError  # re-exported (one class for BackendError)


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int | None = None
    max_tokens: int = 256
    stop: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GenRequest:
    """Either a raw `prompt` (completion) or chat `messages` ((role, content) pairs)."""

    seed: int
    params: SamplingParams
    prompt: str | None = None
    messages: tuple[tuple[str, str], ...] | None = None
    tag: Any = field(default=None, compare=False)  # caller's bookkeeping (problem id, index, ...)

    def __post_init__(self) -> None:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("a GenRequest needs exactly one of prompt or messages")


@dataclass(frozen=True)
class GenResult:
    text: str
    finish_reason: str  # "stop" or "length" (truncated)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def as_chat(messages: Sequence[tuple[str, str]] | None) -> list[dict[str, str]]:
    """GenRequest.messages ((role, content) pairs) as the chat format every engine takes:
    [{"role": ..., "content": ...}, ...] in order (the OpenAI API, chat templates, llama.cpp)."""
    return [{"role": role, "content": content} for role, content in messages or ()]


def render_chat(tokenizer: Any, messages: Sequence[tuple[str, str]] | None, *, model: str = "",
                **template_kwargs: Any) -> str:
    """The prompt text of a chat request: the tokenizer's chat template applied to as_chat(messages)
    with the assistant turn opened (add_generation_prompt=True), not tokenized. template_kwargs go
    to the template (e.g. enable_thinking=True for Qwen3)."""
    if hasattr(tokenizer, "chat_template") and not tokenizer.chat_template:  # wrappers may lack the attribute
        raise BackendError(f"model {model or '(unnamed)'} has no chat template; send a raw prompt instead")
    return tokenizer.apply_chat_template(as_chat(messages), tokenize=False, add_generation_prompt=True,
                                         **template_kwargs)


@runtime_checkable
class Backend(Protocol):
    name: str
    model: str

    def generate(self, requests: Sequence[GenRequest], *, progress: bool = True) -> list[GenResult]: ...

    def close(self) -> None: ...
