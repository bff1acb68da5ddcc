"""vLLM offline backend (GPU): `LLM.generate` with `SamplingParams(n=..., seed=...)`.

Requests that share a prompt and params and have consecutive seeds s, s+1, ..., s+k-1 (what
generate.py and llm_eval.py produce for one problem) are sent as ONE prompt with n=k and
seed=s: vLLM then samples the k continuations itself, which is how it batches best. Sample i of
such a group is reproducible for the same (model, prompt, params, s, k) on the same vLLM
version, but not bit-identical to the hf backend's sample with seed s+i.
"""

from __future__ import annotations

from typing import Sequence

from harness.backends.base import GenRequest, GenResult, render_chat
from harness.models import materialize, preset


class VLLMBackend:
    """vLLM offline LLM.generate (GPU)"""

    name = "vllm"

    def __init__(self, model: str, *, tensor_parallel_size: int = 1, data_parallel_size: int = 1,
                 pipeline_parallel_size: int = 1, gpu_memory_utilization: float = 0.85,
                 max_model_len: int | None = None, dtype: str = "auto",
                 chat_template_kwargs: dict | None = None, enforce_eager: bool = False,
                 enable_prefix_caching: bool = True) -> None:
        """Parallelism goes to vLLM's engine: tensor_parallel_size shards each layer over GPUs,
        pipeline_parallel_size splits the layers, data_parallel_size runs replicas (vLLM's
        EngineArgs). Prefix caching stays on: judge prompts of one problem share their prefix."""
        try:
            from vllm import LLM
        except ImportError as exc:
            from harness.errors import MissingPrerequisiteError

            raise MissingPrerequisiteError.package("vllm", "vllm",
                                                   purpose="the vllm backend (CUDA machines)") from exc
        self.model = model
        self.chat_template_kwargs = chat_template_kwargs or {}
        kwargs = {"tensor_parallel_size": tensor_parallel_size,
                  "gpu_memory_utilization": gpu_memory_utilization, "dtype": dtype,
                  "enforce_eager": enforce_eager, "enable_prefix_caching": enable_prefix_caching}
        if data_parallel_size > 1:  # only when asked: older vLLM versions lack the argument
            kwargs["data_parallel_size"] = data_parallel_size
        if pipeline_parallel_size > 1:
            kwargs["pipeline_parallel_size"] = pipeline_parallel_size
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        spec = preset(model)
        revision = None if spec.hf_id.startswith("embedded:") else spec.revision
        self.llm = LLM(model=materialize(model), revision=revision, **kwargs)
        self.tokenizer = self.llm.get_tokenizer()

    def _render(self, request: GenRequest) -> str:
        if request.prompt is not None:
            return request.prompt
        return render_chat(self.tokenizer, request.messages, model=self.model, **self.chat_template_kwargs)

    def generate(self, requests: Sequence[GenRequest], *, progress: bool = True) -> list[GenResult]:
        from vllm import SamplingParams as VSampling

        groups: list[tuple[str, GenRequest, list[int]]] = []  # (prompt, first request, request indices)
        for i, request in enumerate(requests):
            text = self._render(request)
            last = groups[-1] if groups else None
            if (last and last[0] == text and last[1].params == request.params
                    and request.seed == last[1].seed + len(last[2])):
                last[2].append(i)
            else:
                groups.append((text, request, [i]))
        prompts, params = [], []
        for text, first, members in groups:
            p = first.params
            prompts.append(text)
            params.append(VSampling(n=len(members), seed=first.seed % (2**31), temperature=p.temperature,
                                    top_p=p.top_p, top_k=p.top_k if p.top_k else -1, max_tokens=p.max_tokens,
                                    stop=list(p.stop) or None))
        outputs = self.llm.generate(prompts, params, use_tqdm=progress)
        results: list[GenResult | None] = [None] * len(requests)
        for (_, _, members), out in zip(groups, outputs):
            for index, completion in zip(members, out.outputs):
                finish = "length" if completion.finish_reason == "length" else "stop"
                results[index] = GenResult(text=completion.text, finish_reason=finish,
                                           prompt_tokens=len(out.prompt_token_ids or []),
                                           completion_tokens=len(completion.token_ids))
        return [r for r in results if r is not None]

    def close(self) -> None:
        self.llm = None
