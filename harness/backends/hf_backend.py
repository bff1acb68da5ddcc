"""transformers backend: batched generation on CPU or GPU with one seed per request.

`model.generate` samples a whole batch from one global RNG, so a candidate's text would depend
on which other requests shared its batch. Instead a logits processor samples every row itself
with that row's own `torch.Generator` (seeded by the request) and hands generate a one-hot
distribution, and generate runs greedy. Batching, KV caching, padding and EOS handling stay
transformers' own; the text of a request depends only on (model, prompt, params, seed), up to
floating-point noise from padding.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any, Sequence

from harness.backends.base import GenRequest, GenResult, SamplingParams, render_chat
from harness.progress import progress_bar


class _PerRowSampler:
    """LogitsProcessor: temperature -> top-k -> top-p (HF's order), then one seeded draw per row.

    The nucleus is found among the `CANDIDATES` most likely tokens (a top-k, not a sort of the
    whole vocabulary, which cost more than the model's attention here); a row whose top
    CANDIDATES tokens hold less than top_p of the mass falls back to the full sort, so the kept
    set is always exactly the nucleus.
    """

    CANDIDATES = 256

    def __init__(self, generators, params: SamplingParams) -> None:
        self.generators = generators
        self.params = params

    def __call__(self, input_ids, scores):
        import torch

        p = self.params
        if p.temperature <= 0:
            choice = scores.argmax(dim=-1)
        else:
            logits = scores.float() / p.temperature
            vocab = logits.shape[-1]
            k = min(p.top_k, vocab) if p.top_k else min(self.CANDIDATES, vocab)
            values, index = torch.topk(logits, k, dim=-1)  # sorted, most likely first
            if p.top_k:  # top-k renormalises over its k tokens before top-p
                probs = torch.softmax(values, dim=-1)
            else:  # exact probabilities under the full softmax
                probs = torch.exp(values - torch.logsumexp(logits, dim=-1, keepdim=True))
            choice = torch.empty(scores.shape[0], dtype=torch.long, device=scores.device)
            for row, generator in enumerate(self.generators):
                row_probs, row_index = probs[row], index[row]
                if p.top_p < 1.0 and not p.top_k and float(row_probs.sum()) < p.top_p:
                    row_probs, row_index = torch.softmax(logits[row], dim=-1).sort(descending=True)
                elif p.top_p >= 1.0 and not p.top_k:
                    row_probs = torch.softmax(logits[row], dim=-1)
                    row_index = torch.arange(vocab, device=scores.device)
                if p.top_p < 1.0:
                    # Keep the smallest prefix whose mass reaches top_p (always at least one token).
                    drop = row_probs.cumsum(dim=-1) - row_probs > p.top_p
                    row_probs = row_probs.masked_fill(drop, 0.0)
                choice[row] = row_index[torch.multinomial(row_probs, 1, generator=generator)[0]]
        out = torch.full_like(scores, float("-inf"))
        out[torch.arange(scores.shape[0]), choice] = 0.0
        return out


def cpu_threads() -> int:
    """torch threads for a CPU backend: every core on an idle machine, half of them on a busy one.

    torch's default (one thread per core) collapses when anything else runs: on 2 cores with a
    second busy process, 2 threads decoded at ~2 tok/s and 1 thread at ~20-40; half the cores
    keeps most of the idle speed and none of the collapse. The 1-minute load average tells the
    two apart when the backend starts (HARNESS_CPU_THREADS overrides)."""
    import os

    cores = os.cpu_count() or 2
    if os.environ.get("HARNESS_CPU_THREADS"):
        return max(1, int(os.environ["HARNESS_CPU_THREADS"]))
    try:
        busy = os.getloadavg()[0]
    except OSError:
        busy = float(cores)
    return cores if busy < 0.5 else max(1, cores // 2)


class HFBackend:
    """transformers, CPU or GPU, batched, one seed per request"""

    name = "hf"

    def __init__(self, model: str = "smollm2-135m", *, device: str | None = None, dtype: str = "float32",
                 batch_size: int = 16, chat: bool | None = None, chat_template_kwargs: dict | None = None,
                 threads: int | None = None) -> None:
        try:
            import torch
            import transformers  # noqa: F401  (checked here so the error names the extra)
        except ImportError as exc:
            from harness.errors import MissingPrerequisiteError

            raise MissingPrerequisiteError.package("torch and transformers", "hf",
                                                   purpose="the hf backend") from exc
        from harness.models import load_causal_lm, preset

        self.model = model
        self.preset = preset(model)
        self.chat = self.preset.chat if chat is None else chat
        self.batch_size = batch_size
        self.chat_template_kwargs = chat_template_kwargs or {}
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cpu":
            self.threads = threads or cpu_threads()
            torch.set_num_threads(self.threads)
        lm: Any
        lm, self.tokenizer = load_causal_lm(model, dtype)  # a LoRA adapter folder is merged into its base
        self.tokenizer.padding_side = "left"  # decoder-only: pad on the left so new tokens line up
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        # A raw (few-shot) prompt gets the BOS token a base model was trained with when its preset
        # says so (Gemma; its GGUF tokenizer does not add it); chat templates write their own.
        self.bos = self.tokenizer.bos_token if self.preset.bos else None
        self.lm: Any = lm.to(self.device)  # None once closed
        self.lm.eval()

    def render(self, request: GenRequest) -> str:
        if request.prompt is not None:
            return (self.bos or "") + request.prompt
        return render_chat(self.tokenizer, request.messages, model=self.model, **self.chat_template_kwargs)

    def generate(self, requests: Sequence[GenRequest], *, progress: bool = True) -> list[GenResult]:
        results: list[GenResult | None] = [None] * len(requests)
        # Batch only requests with identical sampling params (one processor per batch); sort by
        # prompt length inside a group so batches waste little padding.
        order = sorted(range(len(requests)),
                       key=lambda i: (repr(requests[i].params), len(self.render(requests[i]))))
        with progress_bar(total=len(requests), desc=f"generate[{self.model}]", unit="req",
                          enabled=progress) as bar:
            for _, group in groupby(order, key=lambda i: repr(requests[i].params)):
                members = list(group)
                for start in range(0, len(members), self.batch_size):
                    batch = members[start:start + self.batch_size]
                    for i, result in zip(batch, self._generate_batch([requests[i] for i in batch])):
                        results[i] = result
                    bar.update(len(batch))
        return [r for r in results if r is not None]

    def _generate_batch(self, batch: list[GenRequest]) -> list[GenResult]:
        import torch
        from transformers import LogitsProcessorList

        params = batch[0].params
        texts = [self.render(r) for r in batch]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True,
                             add_special_tokens=False).to(self.device)
        generators = [torch.Generator(device=self.device).manual_seed(int(r.seed) % (2**63)) for r in batch]
        kwargs: dict[str, Any] = {}
        if params.stop:
            kwargs["stop_strings"] = list(params.stop)
            kwargs["tokenizer"] = self.tokenizer
        with torch.inference_mode():
            out = self.lm.generate(**enc, do_sample=False, max_new_tokens=params.max_tokens,
                                   logits_processor=LogitsProcessorList([_PerRowSampler(generators, params)]),
                                   pad_token_id=self.tokenizer.pad_token_id, temperature=None, top_p=None,
                                   top_k=None, **kwargs)
        new_tokens = out[:, enc["input_ids"].shape[1]:]
        results = []
        eos = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}
        for row, mask in zip(new_tokens.tolist(), enc["attention_mask"].tolist()):
            ids = []
            for tok in row:
                if tok in eos:
                    break
                ids.append(tok)
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            hit_stop = next((s for s in params.stop if s in text), None)
            if hit_stop is not None:
                text = text[:text.index(hit_stop)]
            finished = len(ids) < params.max_tokens or hit_stop is not None
            results.append(GenResult(text=text, finish_reason="stop" if finished else "length",
                                     prompt_tokens=int(sum(mask)), completion_tokens=len(ids)))
        return results

    def close(self) -> None:
        self.lm = None
