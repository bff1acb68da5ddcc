"""DAPO step semantics on TRL (issue "Conformance", point 6; DESIGN.md section 12).

`dapo.max_steps` / `dapo.warmup_steps` / `dapo.logging_steps` count rollout steps (one
generation batch), as verl and the DAPO paper count them; TRL 1.16 counts optimizer steps, and
one generation batch of GRPOTrainer feeds steps_per_generation x num_iterations micro-batches,
an optimizer step taking gradient_accumulation_steps of them. TRL's vLLM importance-sampling
correction is off unless asked for. Overlong handling: DAPO's soft penalty and/or masking
truncated completions. Fast tier, plus two short real TRL runs on a tiny random model.
"""

from __future__ import annotations

import pytest

from trainers.dapo_config import DAPO_DEFAULTS, grpo_config, rollout_lr_scheduler, step_plan
from trainers.reward import SelectionReward, overlong_penalty

from fakes import selection_task


def _dapo(**overrides):
    return {**DAPO_DEFAULTS, "bf16": False, **overrides}


# -- rollout steps -> TRL optimizer steps -------------------------------------------------------


def test_paper_math_rollout_steps_become_trl_optimizer_steps(tmp_path):
    pytest.importorskip("trl")
    from trainers.dapo_trl import updates_per_rollout
    from trainers.train import load_config

    dapo = load_config("paper-math")["dapo"]
    assert (dapo["max_steps"], dapo["warmup_steps"], dapo["updates_per_step"]) == (500, 20, 4)
    plan = step_plan(dapo, processes=1)
    assert plan.rollout_steps == 500 and plan.warmup_rollout_steps == 20 and plan.updates_per_rollout == 4
    # 128 prompts x 16 rollouts = 2048 completions = 4 updates x 256 micro-batches of 2
    assert (plan.gradient_accumulation_steps, plan.steps_per_generation) == (256, 1024)
    assert (plan.trl_max_steps, plan.trl_warmup_steps, plan.trl_logging_steps) == (2000, 80, 4)
    args = grpo_config(dapo, str(tmp_path), cuda=False, processes=1)
    assert (args.max_steps, args.warmup_steps, args.logging_steps) == (2000, 80, 4)
    assert (args.gradient_accumulation_steps, args.steps_per_generation) == (256, 1024)
    # TRL's own relation: one generation batch serves steps_per_generation x num_iterations
    # micro-batches, an optimizer step takes gradient_accumulation_steps of them
    assert updates_per_rollout(args) == args.steps_per_generation * args.num_iterations \
        // args.gradient_accumulation_steps == 4
    assert args.max_steps // updates_per_rollout(args) == 500  # 500 rollout steps, not 125


def test_num_iterations_multiply_the_updates_per_rollout_step(tmp_path):
    pytest.importorskip("trl")
    from trainers.dapo_trl import updates_per_rollout

    dapo = _dapo(max_steps=7, warmup_steps=2, prompts_per_step=4, num_generations=4,
                 per_device_train_batch_size=2, updates_per_step=2, num_iterations=3, logging_steps=1)
    plan = step_plan(dapo, processes=1)
    assert plan.updates_per_rollout == 6 and plan.trl_max_steps == 42 and plan.trl_warmup_steps == 12
    assert (plan.gradient_accumulation_steps, plan.steps_per_generation) == (4, 8)
    args = grpo_config(dapo, str(tmp_path), cuda=False, processes=1)
    assert updates_per_rollout(args) == 6 and args.max_steps == 42 and args.num_iterations == 3
    # several processes share the micro-batches of one rollout step; the step count stays
    two = step_plan(dapo, processes=2)
    assert two.gradient_accumulation_steps == 2 and two.trl_max_steps == 42
    one_update = step_plan(_dapo(max_steps=7, prompts_per_step=4, num_generations=4,
                                 per_device_train_batch_size=4), processes=1)
    assert one_update.updates_per_rollout == 1 and one_update.trl_max_steps == 7


def test_lr_warmup_counts_rollout_steps_like_verl():
    import torch

    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    scheduler = rollout_lr_scheduler(optimizer, "constant_with_warmup", warmup_rollout_steps=4,
                                     rollout_steps=10, updates_per_rollout=3)
    used = []
    for _ in range(18):  # 6 rollout steps x 3 updates
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    # verl: one scheduler step per rollout step, lr = r / warmup during warm-up, then 1
    expected = [min(1.0, r / 4) for r in range(6) for _ in range(3)]
    assert used == pytest.approx(expected)
    linear = rollout_lr_scheduler(torch.optim.SGD([param], lr=2.0), "linear", warmup_rollout_steps=0,
                                  rollout_steps=4, updates_per_rollout=2)
    assert [linear.lr_lambdas[0](s) for s in range(8)] == pytest.approx([1, 1, .75, .75, .5, .5, .25, .25])
    assert rollout_lr_scheduler(torch.optim.SGD([param], lr=1.0), "reduce_lr_on_plateau",
                                warmup_rollout_steps=0, rollout_steps=4, updates_per_rollout=2) is None


# -- TRL's importance-sampling mask -------------------------------------------------------------


def test_vllm_importance_sampling_mask_is_off_unless_asked(tmp_path):
    pytest.importorskip("trl")
    from trl import GRPOConfig

    from trainers.train import CONFIG_DIR, load_config

    assert GRPOConfig(output_dir=str(tmp_path), use_cpu=True).vllm_importance_sampling_correction  # TRL: on
    assert DAPO_DEFAULTS["vllm_importance_sampling_correction"] is False
    for name in sorted(p.stem for p in CONFIG_DIR.glob("*.yaml") if p.stem != "verl-dapo"):
        dapo = load_config(name)["dapo"]
        args = grpo_config({**dapo, "bf16": False}, str(tmp_path), cuda=False, processes=1)
        assert args.vllm_importance_sampling_correction is False, name
    # a dict without the key (older callers) is off too; asked for, it is on
    small = _dapo(prompts_per_step=2, num_generations=4, per_device_train_batch_size=8)
    bare = {k: v for k, v in small.items() if k != "vllm_importance_sampling_correction"}
    args = grpo_config(bare, str(tmp_path), cuda=False, processes=1)
    assert args.vllm_importance_sampling_correction is False
    asked = _dapo(prompts_per_step=2, num_generations=4, per_device_train_batch_size=8,
                  vllm_importance_sampling_correction=True)
    assert grpo_config(asked, str(tmp_path), cuda=False, processes=1).vllm_importance_sampling_correction


# -- overlong handling --------------------------------------------------------------------------


def _verl_overlong(length: int, max_length: int, buffer: int, factor: float) -> float:
    """verl's DAPO reward manager (reward_manager=dapo, overlong_buffer): the same rule, written
    from its definition: expected = L_max - buffer, penalty = min(-(L - expected) / buffer * factor, 0)."""
    return min(-(length - (max_length - buffer)) / buffer * factor, 0.0)


@pytest.mark.parametrize("length, expected", [(1, 0.0), (12288, 0.0), (12289, -1 / 4096), (13312, -0.25),
                                              (14336, -0.5), (15360, -0.75), (16383, -4095 / 4096),
                                              (16384, -1.0)])
def test_soft_overlong_penalty_at_paper_scale(length, expected):
    assert overlong_penalty(length, 16384, 4096) == pytest.approx(expected)
    assert overlong_penalty(length, 16384, 4096) == pytest.approx(_verl_overlong(length, 16384, 4096, 1.0))
    assert overlong_penalty(length, 16384, 4096, factor=0.5) == pytest.approx(expected / 2)


def test_overlong_penalty_in_the_trl_reward_and_both_options_reach_trl(tmp_path):
    pytest.importorskip("trl")
    from trainers.train import TrainConfigError, load_config

    reward = SelectionReward(max_completion_length=16, overlong_cache=8)
    lengths = [4, 8, 12, 16]
    out = reward(prompts=["p"] * 4, completions=["Judgment: 0"] * 4,
                 completion_ids=[[1] * n for n in lengths], n_candidates=[2] * 4, correct_positions=[[0]] * 4)
    assert out == pytest.approx([1.0, 1.0, 0.5, 0.0])  # 1 + penalty: 0, 0, -0.5, -1
    assert reward.last_correct == [1.0] * 4  # the "acc" dynamic sampling filters on is unpenalised
    for mask in (True, False):
        args = grpo_config(_dapo(prompts_per_step=2, num_generations=4, per_device_train_batch_size=8,
                                 mask_truncated_completions=mask), str(tmp_path), cuda=False, processes=1)
        assert args.mask_truncated_completions is mask
    assert DAPO_DEFAULTS["mask_truncated_completions"] is True  # the defaults: masking on,
    assert DAPO_DEFAULTS["overlong"]["enable"] is False  # the soft penalty off
    paper = load_config("paper-math")["dapo"]
    assert paper["mask_truncated_completions"] and paper["overlong"] == {"enable": True, "cache": 4096,
                                                                         "factor": 1.0}
    with pytest.raises(TrainConfigError, match="overlong.cache"):  # a buffer as long as the budget
        load_config("cpu-smoke", {"dapo": {"overlong": {"enable": True, "cache": 24}}})


# -- real TRL runs: rollout steps taken = max_steps ---------------------------------------------


def _tiny_trainer(tmp_path, dapo_overrides, calls):
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from harness.models import materialize
    from trainers.dapo_trl import _trainer_class, to_trl_dataset

    tokenizer = AutoTokenizer.from_pretrained(materialize("smollm2-135m"))
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                         max_position_embeddings=512, tie_word_embeddings=True))
    records = [selection_task(f"t{i}", f"Task {i}: pick one. Judgment: <index>", 2, [0]) for i in range(8)]

    def scripted(prompts, completions, completion_ids, **_):
        calls.append(len(completions))  # one call per generation batch
        return [float(ids[0] % 2) for ids in completion_ids]

    dapo = _dapo(prompts_per_step=2, num_generations=4, per_device_train_batch_size=2, updates_per_step=2,
                 max_completion_length=6, learning_rate=1e-3, mask_truncated_completions=False,
                 lr_scheduler_type="constant_with_warmup", **dapo_overrides)
    args = grpo_config(dapo, str(tmp_path / "out"), cuda=False, processes=1)
    trainer = _trainer_class()(model=model, reward_funcs=[scripted], args=args,
                               train_dataset=to_trl_dataset(records), processing_class=tokenizer,
                               dynamic_sampling=False)
    return trainer, step_plan(dapo, processes=1)


def test_tiny_run_takes_max_steps_rollout_steps_with_the_lr_held_per_rollout(tmp_path):
    pytest.importorskip("trl")
    from transformers import TrainerCallback

    calls: list[int] = []
    trainer, plan = _tiny_trainer(tmp_path, {"max_steps": 3, "warmup_steps": 1}, calls)
    assert plan.updates_per_rollout == 2 and trainer.args.max_steps == 6

    lrs: list[float] = []

    class RecordLr(TrainerCallback):
        def on_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
            lrs.append(optimizer.param_groups[0]["lr"])  # the lr this update used

    trainer.add_callback(RecordLr())
    trainer.train()
    assert len(calls) == trainer.rollout_steps == 3 and calls == [8, 8, 8]  # 3 generation batches
    assert trainer.state.global_step == 6 and len(trainer.sampling_history) == 3
    assert [row["step"] for row in trainer.sampling_history] == [1, 2, 3]
    assert [row["optimizer_step"] for row in trainer.sampling_history] == [1, 3, 5]
    assert lrs == pytest.approx([0.0, 0.0, 1e-3, 1e-3, 1e-3, 1e-3])  # warm-up: 1 rollout step
    logged = [row["step"] for row in trainer.state.log_history if "loss" in row]
    assert logged == [2, 4, 6]  # one log row per rollout step


def test_a_stop_request_waits_for_the_end_of_the_rollout_step(tmp_path):
    pytest.importorskip("trl")
    from trainers.wall_clock import wall_clock_callback

    calls: list[int] = []
    trainer, _ = _tiny_trainer(tmp_path, {"max_steps": 3}, calls)
    budget = wall_clock_callback(max_minutes=0)  # asks to stop after the very first update
    trainer.add_callback(budget)
    trainer.train()
    assert budget.stopped_early and trainer.rollout_steps == 1 and len(calls) == 1
    assert trainer.state.global_step == 2  # both updates of the rollout batch ran
