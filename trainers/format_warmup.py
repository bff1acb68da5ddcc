"""Format cold start before DAPO: teach the judge to answer `Judgment: k`, never which k is right.

Why: a judge that does not yet write a parseable verdict breaks DAPO's learning signal. With the
issue's reward (a parse failure scores 0, like a wrong pick) a group is mixed only when some
rollout picks the correct candidate, so a verdict is reinforced when right and never penalised
when wrong (its group is all-0 and dynamic sampling drops it). Measured on the embedded 135M
model: the judge learns the format and collapses onto the position it names most often
("Judgment: 0"), after which nearly every group is all-equal and training stalls.

The cure used by R1-style pipelines is a short supervised cold start. Here its targets carry no
correctness information: each task's target is `Judgment: k` with k drawn uniformly at random
(seeded) from its candidates. The warmed-up judge writes the format with a flat preference over
positions, so every pick DAPO makes afterwards is parseable and rewarded only for being right.
What it learns about choosing comes from DAPO alone; the miniature benchmark evaluates the
warmed-up judge on its own to show that (it should score like random choice).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from harness.config import options_from_mapping
from harness.selectors.judgment import parse_judgment
from harness.types import stable_hash
from trainers.lora import LoraOptions, with_new_adapter
from trainers.selection_data import judge_input_text
from trainers.tasks_schema import SelectionTask


@dataclass(frozen=True)
class WarmupOptions:
    enable: bool = False
    examples: int = 256  # tasks used (drawn without replacement, seeded)
    epochs: int = 1
    batch_size: int = 8
    learning_rate: float = 5e-5
    seed: int = 0
    check_prompts: int = 16  # sampled afterwards (temperature 1) to measure the parse rate

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "WarmupOptions":
        return options_from_mapping(cls, data, "warmup")


@dataclass
class WarmupReport:
    examples: int
    steps: int
    seconds: float
    loss_first: float
    loss_last: float
    parse_rate_after: float
    label_counts: dict[int, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def warmup_targets(tasks: Sequence[SelectionTask], opts: WarmupOptions) -> list[tuple[str, str]]:
    """(prompt, target) pairs; the index in each target is uniform over that task's candidates."""
    rng = random.Random(opts.seed)
    chosen = rng.sample(list(tasks), min(opts.examples, len(tasks)))
    out = []
    for task in chosen:
        # seeded per task, so the label never depends on which other tasks were drawn
        task_rng = random.Random(stable_hash([opts.seed, task.task_id], 12))
        k = task_rng.randrange(task.n_candidates)
        out.append((task.prompt, f"Judgment: {k}"))
    return out


def _encode(tokenizer, prompt: str, target: str) -> tuple[list[int], list[int]]:
    """Token ids of chat-templated prompt + target + EOS, and labels masking the prompt."""
    prompt_ids = tokenizer(judge_input_text(tokenizer, prompt), add_special_tokens=False)["input_ids"]
    target_ids = tokenizer(target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return prompt_ids + target_ids, [-100] * len(prompt_ids) + target_ids


def run_format_warmup(model_path: str, tasks: Sequence[SelectionTask], opts: WarmupOptions,
                      out_dir: str, *, lora: LoraOptions | None = None) -> WarmupReport:
    """Fine-tune on uniform-label `Judgment: k` targets and save model + tokenizer to out_dir
    (with `lora` enabled: a fresh adapter is trained and only the adapter is saved)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.time()
    torch.manual_seed(opts.seed)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    if lora is not None and lora.enable:
        model = with_new_adapter(model, lora)
    pairs = warmup_targets(tasks, opts)
    encoded = [_encode(tokenizer, p, t) for p, t in pairs]
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=opts.learning_rate, weight_decay=0.0)
    rng = random.Random(opts.seed)
    losses: list[float] = []
    model.train()
    for _ in range(opts.epochs):
        order = list(range(len(encoded)))
        rng.shuffle(order)
        for start in range(0, len(order), opts.batch_size):
            batch = [encoded[i] for i in order[start:start + opts.batch_size]]
            width = max(len(ids) for ids, _ in batch)
            ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, (x, y) in enumerate(batch):
                ids[row, :len(x)], labels[row, :len(y)], mask[row, :len(x)] = \
                    torch.tensor(x), torch.tensor(y), 1
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            optimizer.zero_grad()
            losses.append(float(loss.detach()))
    model.eval()
    parse_rate = _parse_rate(model, tokenizer, tasks, opts)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    labels_seen: dict[int, int] = {}
    for _, target in pairs:
        k = int(target.rsplit(" ", 1)[-1])
        labels_seen[k] = labels_seen.get(k, 0) + 1
    return WarmupReport(examples=len(pairs), steps=len(losses), seconds=round(time.time() - started, 1),
                        loss_first=losses[0] if losses else float("nan"),
                        loss_last=losses[-1] if losses else float("nan"), parse_rate_after=parse_rate,
                        label_counts=dict(sorted(labels_seen.items())))


def _parse_rate(model, tokenizer, tasks: Sequence[SelectionTask], opts: WarmupOptions) -> float:
    """Share of sampled replies (temperature 1, 16 tokens) that parse, on tasks of the training set."""
    import torch

    if opts.check_prompts <= 0:
        return float("nan")
    sample = random.Random(opts.seed + 1).sample(list(tasks), min(opts.check_prompts, len(tasks)))
    saved_side, tokenizer.padding_side = tokenizer.padding_side, "left"
    texts = [judge_input_text(tokenizer, t.prompt) for t in sample]
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**batch, do_sample=True, temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=16,
                             pad_token_id=tokenizer.pad_token_id)
    replies = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    tokenizer.padding_side = saved_side
    parsed = [parse_judgment(text, t.n_candidates) is not None for text, t in zip(replies, sample)]
    return sum(parsed) / len(parsed)
