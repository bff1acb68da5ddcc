"""DAPO on a CUDA GPU: the path `paper-math` takes on one GPU node (bf16, TRL generation on the GPU).

A tiny randomly initialised Llama with SmolLM2's tokenizer keeps it to seconds: the format
warm-up teaches it the verdict line, then two DAPO steps run on the GPU with dynamic sampling.
The tokenizer comes from the embedded model, or from HARNESS_TEST_TOKENIZER (a folder) where the
embedded model is not installed.
"""

from __future__ import annotations

import os

import pytest

from trainers.tasks_schema import SelectionTask

from fakes import selection_task

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def _tokenizer_folder() -> str:
    folder = os.environ.get("HARNESS_TEST_TOKENIZER")
    if folder:
        return folder
    from harness.models import materialize

    return materialize("smollm2-135m")


def _tiny_model(folder) -> str:
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(_tokenizer_folder())
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                         max_position_embeddings=2048,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def _records(n: int) -> list[SelectionTask]:
    records = []
    for i in range(n):
        k = 2 + i % 2
        solutions = "\n\n".join(f"Solution {j}:\n{i} + {j} = {i + j}" for j in range(k))
        prompt = f"Problem:\nWhat is {i} + {i % k}?\n\n{solutions}\n\nJudgment: <index>"
        records.append(selection_task(f"t{i}", prompt, k, [i % k]))
    return records


def test_format_warmup_then_dapo_steps_on_gpu(tmp_path):
    pytest.importorskip("trl")
    from safetensors.torch import load_file

    from trainers.dapo_trl import train_dapo
    from trainers.format_warmup import WarmupOptions, run_format_warmup

    base = _tiny_model(tmp_path / "tiny")
    records = _records(64)
    warm = tmp_path / "warm"
    warmup = WarmupOptions(enable=True, examples=64, epochs=40, batch_size=16, learning_rate=3e-3,
                           check_prompts=16)
    report = run_format_warmup(base, records, warmup, str(warm))
    assert report.loss_last < report.loss_first and report.parse_rate_after >= 0.5
    dapo = {"max_steps": 2, "prompts_per_step": 4, "num_generations": 8, "per_device_train_batch_size": 16,
            "max_completion_length": 8, "learning_rate": 1e-4, "temperature": 1.0,
            "mask_truncated_completions": True,
            "dynamic_sampling": {"enable": True, "metric": "acc", "max_num_gen_batches": 4,
                                 "on_shortfall": "pad"}}
    outcome = train_dapo(records, str(warm), dapo, str(tmp_path / "out"))
    trainer = outcome.trainer
    assert outcome.steps == 2
    assert trainer.args.bf16 and next(trainer.model.parameters()).device.type == "cuda"
    assert len(outcome.sampling_history) == 2
    for row in outcome.sampling_history:
        assert row["groups_kept"] + row["groups_padded"] == 4  # the step's 4 tasks, refilled or padded
    trainer.save_model(str(tmp_path / "trained"))
    before = load_file(str(next(warm.glob("*.safetensors"))))
    after = load_file(str(next((tmp_path / "trained").glob("*.safetensors"))))
    key = "model.layers.0.self_attn.q_proj.weight"
    kept = sum(row["groups_kept"] for row in outcome.sampling_history)
    print(f"[gpu] warm-up parse rate {report.parse_rate_after:.2f}; groups kept {kept}; "
          f"sampling {outcome.sampling_history}")
    if kept:  # a kept group carries advantages, so the weights must move
        assert not torch.equal(before[key].float(), after[key].float().cpu())
