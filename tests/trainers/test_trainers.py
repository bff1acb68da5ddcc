"""The trainers package: selection-task builder, reward, dynamic sampling, DAPO end to end, verl export.

Fast tier: builder filters and refusal, reward cases, dynamic-sampling batch logic, verl schema.
Real-model tier (CPU, about a minute each): a DAPOTrainer step on a tiny random model with a
scripted reward (dropping + refilling for certain), and cpu-smoke end to end on the embedded
SmolLM2-135M: two DAPO rollout steps (four optimizer steps), weights change, checkpoint
registered, rl-genselect resolves it. Step semantics: tests/trainers/test_dapo_semantics.py; the paper's
selection-task rules: tests/trainers/test_selection_tasks.py.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from harness.errors import DataError
from harness.selectors.genselect import GenSelect, candidate_view
from harness.types import Candidate, Grade, Problem
from trainers.eval_guard import EvalContaminationError, EvalGuard
from trainers.reward import SelectionReward, judge_reward, overlong_penalty, score
from trainers.selection_data import (
    BuildOptions,
    BuildStats,
    PoolSource,
    build_selection_tasks,
    chars_token_counter,
    problem_tasks,
    read_dataset,
    write_dataset,
)
from trainers.tasks_schema import SelectionTask

from fakes import selection_task

# -- synthetic graded pools ------------------------------------------------------------------


def _problem(i: int, task: str = "synthetic") -> Problem:
    return Problem(f"syn-{i}", task, f"Synthetic problem number {i}: what is {i} times {i + 3}?", {})


def _pool(problem: Problem, n_correct: int, n_wrong: int, distinct: bool = True):
    cands, grades = [], []
    for j in range(n_correct + n_wrong):
        ok = j < n_correct
        text = f"Work {j if distinct else 0}. The answer is {'42' if ok else 40 + (j if distinct else 1)}."
        cands.append(Candidate(problem.id, j, text))
        grades.append(Grade(problem.id, j, "correct" if ok else "wrong", ok, "42" if ok else "x"))
    return cands, grades


class _FakePool:
    def __init__(self, key="poolkey"):
        self.key, self.ref = key, f"synthetic/model/{key}"


class _FakeTask:
    kind = "math"

    def __init__(self, problems):
        self._problems = list(problems)
        self.name = "synthetic"

    def problems(self):
        return self._problems


def _tasks(problem, n_correct, n_wrong, opts=None, distinct=True, counter=chars_token_counter):
    cands, grades = _pool(problem, n_correct, n_wrong, distinct)
    stats = BuildStats()
    out = problem_tasks(problem, cands, grades, kind="math", opts=opts or BuildOptions(),
                        count_tokens=counter, stats=stats, pool_key="poolkey")
    return out, stats, cands, grades


def _synthetic_build(n_problems: int):
    """Selection tasks (default options) from n synthetic problems of 2 correct + 6 wrong candidates."""
    problems = [_problem(i) for i in range(n_problems)]
    cands, grades = {}, {}
    for p in problems:
        cands[p.id], grades[p.id] = _pool(p, 2, 6)
    src = PoolSource(pool=_FakePool(), task=_FakeTask(problems), candidates=cands, grades=grades)
    return build_selection_tasks([src], BuildOptions(), guard=EvalGuard())


def test_builder_keeps_only_low_pass_rate_problems():
    for n_correct, n_wrong, kept in ((8, 8, False), (9, 7, False), (7, 9, True), (1, 15, True),
                                     (0, 16, False), (3, 0, False)):
        out, stats, _, _ = _tasks(_problem(n_correct * 100 + n_wrong), n_correct, n_wrong)
        assert bool(out) == kept, (n_correct, n_wrong)
        if n_correct / (n_correct + n_wrong) >= 0.5:
            assert stats.dropped_pass_rate == 1


def test_builder_task_shape_rules():
    rng = random.Random(0)
    sizes = []
    for i in range(60):
        total = rng.randint(4, 40)
        n_correct = rng.randint(1, max(1, (total - 1) // 2))
        problem = _problem(i)
        out, stats, cands, grades = _tasks(problem, n_correct, total - n_correct)
        assert 1 <= len(out) <= 4
        correct_idx = {g.index for g in grades if g.correct}
        texts = {c.index: c.text for c in cands}
        signatures = set()
        for rec in out:
            shown, pos = rec.shown_indices, rec.correct_positions
            assert 2 <= len(shown) <= 16 and len(shown) <= total and rec.n_candidates == len(shown)
            assert len(set(shown)) == len(shown)
            assert pos == tuple(k for k, idx in enumerate(shown) if idx in correct_idx)
            assert 1 <= len(pos) <= len(shown) // 2  # at least one correct, at most half
            assert len(shown) - len(pos) >= 1
            view = [candidate_view(texts[k], "math", 3000) for k in shown]
            # identical to evaluation
            assert rec.prompt == GenSelect().build_prompt(problem.statement, view)
            assert rec.pool_key == "poolkey" and rec.problem_id == problem.id
            signatures.add(tuple(sorted(shown)))
            sizes.append((len(shown), min(total, 16)))
        assert len(signatures) == len(out)  # deduplicated
    # the size is drawn around the middle of [2, min(total, 16)], and shuffled
    mean_offset = sum(s - (2 + hi) / 2 for s, hi in sizes) / len(sizes)
    assert abs(mean_offset) < 1.0


def test_builder_shuffles_and_balances_when_correct_exceed_incorrect():
    opts = BuildOptions(max_pass_rate=1.01, tasks_per_problem=4)
    orders_sorted = 0
    seen_correct: set[int] = set()
    for i in range(20):
        out, stats, _, grades = _tasks(_problem(i), 10, 3, opts)
        for rec in out:
            assert len(rec.correct_positions) <= len(rec.shown_indices) // 2
            orders_sorted += list(rec.shown_indices) == sorted(rec.shown_indices)
            seen_correct.update(rec.correct_indices)
        # correct ones are first dropped down to the number of incorrect (3 of 10 survive)
        per_problem = {i for rec in out for i in rec.correct_indices}
        assert len(per_problem) <= 3
    assert orders_sorted < 40  # not presented in pool order


def test_builder_rotations_put_each_correct_candidate_at_every_position():
    opts = BuildOptions(max_pass_rate=1.01, tasks_per_problem=3, rotate_positions=True)
    plain, _, _, _ = _tasks(_problem(7), 2, 6, BuildOptions(max_pass_rate=1.01, tasks_per_problem=3))
    out, stats, _, _ = _tasks(_problem(7), 2, 6, opts)
    by_set: dict[tuple[int, ...], list[SelectionTask]] = {}
    for rec in out:
        by_set.setdefault(tuple(sorted(rec.shown_indices)), []).append(rec)
    assert len(by_set) == len(plain)
    assert stats.tasks == len(out) == sum(len(r.shown_indices) for r in plain)
    for group in by_set.values():
        k = group[0].n_candidates
        assert len(group) == k and len({r.task_id for r in group}) == k
        # every correct candidate is shown once at each position, and the prompt follows the order
        for index in {i for r in group for i in r.correct_indices}:
            assert sorted(r.shown_indices.index(index) for r in group) == list(range(k))
        for rec in group:
            solutions = rec.prompt.split("Solution ")[1:]
            assert len(solutions) == k


def test_builder_dedupes_identical_texts_and_caps_tokens():
    out, stats, _, _ = _tasks(_problem(1), 1, 2, distinct=False)  # 1 correct + 2 identical wrong texts
    # only {correct, wrong} and {correct, wrong, wrong} exist, in any order and either wrong copy
    assert len(out) == 2 and stats.duplicates > 0
    capped, stats, _, _ = _tasks(_problem(2), 3, 9, BuildOptions(max_prompt_tokens=10))
    assert capped == [] and stats.dropped_over_cap > 0
    lengths = []
    out, _, _, _ = _tasks(_problem(3), 3, 9, counter=lambda text: lengths.append(len(text)) or len(text))
    assert all(rec.prompt_tokens == len(rec.prompt) for rec in out) and lengths


def test_dataset_roundtrip_records_what_was_shown(tmp_path):
    records, stats = _synthetic_build(5)
    path = write_dataset(tmp_path / "tasks.jsonl", records, {"stats": stats.to_json()})
    header, rows = read_dataset(path)
    assert header["kind"] == "selection-tasks" and rows == records
    # on disk: one object a line, with the keys the dict-era builder wrote (old files stay valid)
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[1:]]
    assert lines == [task.model_dump(mode="json") for task in records]
    assert all(set(line) == {"task_id", "pool_key", "pool_ref", "problem_id", "task", "kind", "shown_indices",
                             "correct_positions", "n_candidates", "pass_rate", "prompt_tokens",
                             "prompt_version", "prompt"} for line in lines)


def test_dataset_row_that_is_not_a_task_names_file_and_line(tmp_path):
    records, _ = _synthetic_build(2)
    path = write_dataset(tmp_path / "tasks.jsonl", records, {})
    lines = path.read_text(encoding="utf-8").splitlines()
    broken = {**json.loads(lines[2]), "n_candidates": "many"}
    extra = {**json.loads(lines[3]), "note": "hand-edited"}
    for bad, why in ((broken, "n_candidates"), (extra, "note")):
        path.write_text("\n".join([*lines[:2], json.dumps(bad), *lines[3:]]) + "\n", encoding="utf-8")
        with pytest.raises(DataError, match=f"tasks.jsonl:3: not a valid selection task \\({why}"):
            read_dataset(path)
    inconsistent = {**json.loads(lines[2]), "correct_positions": [99]}
    path.write_text("\n".join([*lines[:2], json.dumps(inconsistent)]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="tasks.jsonl:3: .*correct_positions"):
        read_dataset(path)


def test_builder_refuses_arith_test_split_problems():
    from tasks.arith import arith

    test_problems = arith(None, "level=mul1,n=5,split=test").problems()
    train_problems = arith(None, "level=mul1,n=5,split=train").problems()
    guard = EvalGuard()
    guard.check(train_problems)  # the train split passes
    cands = {p.id: _pool(p, 1, 3)[0] for p in test_problems + train_problems}
    grades = {p.id: _pool(p, 1, 3)[1] for p in test_problems + train_problems}
    src = PoolSource(pool=_FakePool(), task=_FakeTask(test_problems + train_problems), candidates=cands,
                     grades=grades)
    with pytest.raises(EvalContaminationError) as err:
        build_selection_tasks([src], BuildOptions(), guard=guard)
    message = str(err.value)
    for p in test_problems:
        assert p.id in message
    assert "arith (test split)" in message and len(err.value.hits) == len(test_problems)
    # an id-only view (no metadata) is still recognised
    bare = [Problem(p.id, "x", "", {}) for p in test_problems]
    with pytest.raises(EvalContaminationError):
        guard.check(bare)


def test_builder_refuses_benchmark_problems_by_id_and_statement(settings):
    guard = EvalGuard.load(settings)
    assert {"aime24", "aime25", "hmmt25", "livecodebench"} <= set(guard.checked) and not guard.unavailable
    from harness.plugins import load_task

    aime = load_task("aime24", settings).problems()[0]
    renamed = Problem("my-training-problem-1", "mine", "  " + aime.statement.upper() + "\n", {})
    same_id = Problem(aime.id, "mine", "A different statement about something else entirely.", {})
    with pytest.raises(EvalContaminationError) as err:
        guard.check([renamed, same_id, _problem(7)])
    assert "my-training-problem-1" in str(err.value) and aime.id in str(err.value)
    assert "syn-7" not in str(err.value) and "aime24" in str(err.value)


def test_train_refuses_eval_task_before_generating(tmp_path):
    from trainers.train import main

    with pytest.raises(EvalContaminationError) as err:
        main("cpu-smoke", results_dir=str(tmp_path), overrides={"data": {"pools": [
            {"task": "arith:level=mul1,n=4,split=test", "generate": {"model": "smollm2-135m", "n": 2}}]}})
    assert "arith-mul1-" in str(err.value)
    assert not (tmp_path / "pools").exists()  # refused before any candidate was generated


def test_hub_offline_is_scoped_and_leaves_the_environment_alone():
    import os

    import datasets.config
    import huggingface_hub.constants

    from trainers.eval_guard import hub_offline

    before = (huggingface_hub.constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE, dict(os.environ))
    with hub_offline():
        assert huggingface_hub.constants.HF_HUB_OFFLINE and datasets.config.HF_HUB_OFFLINE
        assert huggingface_hub.constants.is_offline_mode()
        assert dict(os.environ) == before[2]
    after = (huggingface_hub.constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE, dict(os.environ))
    assert after == before
    with pytest.raises(RuntimeError), hub_offline():
        raise RuntimeError("restored on errors too")
    assert huggingface_hub.constants.HF_HUB_OFFLINE == before[0]


def test_trainers_reach_tasks_only_through_the_registry():
    import ast

    for path in sorted((Path(__file__).parents[2] / "trainers").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not [n for n in names if n.split(".")[0] == "tasks"], f"{path.name} imports {names}"


# -- the typed training config -------------------------------------------------------------------

@pytest.mark.parametrize("override, path, valid", [
    ({"dapo": {"dynamic_sampling": {"enabel": True}}}, "dapo.dynamic_sampling.enabel", "enable, metric"),
    ({"dapo": {"overlong": {"cach": 3}}}, "dapo.overlong.cach", "enable, cache, factor"),
    ({"dapo": {"max_step": 3}}, "dapo.max_step", "max_steps"),
    ({"data": {"build": {"max_pas_rate": 0.3}}}, "data.build.max_pas_rate", "max_pass_rate"),
    ({"data": {"pools": [{"task": "arith", "generate": {"model": "m", "samples": 2}}]}},
     "data.pools[0].generate.samples", "model, backend, n"),
    ({"data": {"pools": [{"task": "arith", "pool": "x", "limt": 3}]}}, "data.pools[0].limt",
     "task, generate"),
    ({"warmup": {"epoch": 2}}, "warmup.epoch", "epochs"),
    ({"checkpoint": {"max_token": 8}}, "checkpoint.max_token", "max_tokens"),
    ({"nmae": "x"}, "nmae", "name, base_model"),
])
def test_train_config_refuses_unknown_keys_at_any_depth(override, path, valid):
    from trainers.train import TrainConfigError, load_config

    with pytest.raises(TrainConfigError) as err:
        load_config("cpu-smoke", override)
    message = str(err.value)
    assert f"unknown key {path!r}" in message and valid in message and "cpu-smoke.yaml" in message


def test_train_config_types_and_rules_are_checked():
    from trainers.train import TrainConfigError, load_config

    for override, text in [({"dapo": {"max_steps": "many"}}, "dapo.max_steps"),
                           ({"dapo": {"dynamic_sampling": {"metric": "loss"}}},
                            "dapo.dynamic_sampling.metric"),
                           ({"data": {"pools": [{"task": "arith"}]}}, "exactly one of `generate`"),
                           ({"data": {"pools": None}}, "a prebuilt `dataset` or a list of `pools`")]:
        with pytest.raises(TrainConfigError, match=__import__("re").escape(text)):
            load_config("cpu-smoke", override)


def test_bundled_configs_load_and_dapo_defaults_have_one_source():
    from harness.generate import GenerationConfig
    from trainers.config import GenerateSection
    from trainers.dapo_config import DAPO_DEFAULTS, DapoSection
    from trainers.train import CONFIG_DIR, load_config

    for path in sorted(CONFIG_DIR.glob("*.yaml")):
        if path.stem != "verl-dapo":  # verl's own overlay, not a training config
            cfg = load_config(path)
            assert set(cfg["dapo"]) == set(DAPO_DEFAULTS) and cfg["name"] == path.stem
    assert DAPO_DEFAULTS == DapoSection().model_dump()
    assert load_config("cpu-smoke")["dapo"]["max_steps"] == 2 and DAPO_DEFAULTS["max_steps"] == 100
    import dataclasses

    assert set(GenerateSection.model_fields) == {f.name for f in dataclasses.fields(GenerationConfig)}


# -- reward ------------------------------------------------------------------------------------


def test_reward_known_cases():
    assert judge_reward("I compared them.\nJudgment: 1", 3, [1]).reward == 1.0
    assert judge_reward("Judgment: 1", 3, [0, 2]).reward == 0.0
    assert judge_reward("**Judgement**: 2", 3, [2]).reward == 1.0
    # the last one counts
    assert judge_reward("Judgment: 0 ... on reflection Judgment: 2", 3, [0]).reward == 0.0
    for bad in ("no verdict here", "", None, "Judgment: 3", "Judgment: -1", "<think>Judgment: 1"):
        result = judge_reward(bad, 3, [0, 1, 2])
        assert result.reward == 0.0 and result.parsed is None, bad
    assert judge_reward("<think>Judgment: 0</think>Judgment: 1", 2, [1]).reward == 1.0


def test_overlong_penalty_is_dapos_soft_ramp():
    assert overlong_penalty(80, 100, 20) == 0.0
    assert overlong_penalty(90, 100, 20) == pytest.approx(-0.5)
    assert overlong_penalty(100, 100, 20) == pytest.approx(-1.0)
    assert overlong_penalty(130, 100, 20) == pytest.approx(-1.0)
    assert overlong_penalty(99, 100, 0) == 0.0
    r = score("Judgment: 0", 2, [0], length=95, max_length=100, overlong_cache=20)
    assert r.reward == pytest.approx(0.25) and r.correct == 1.0  # 1 - (95 - 80) / 20


def test_selection_reward_as_trl_calls_it():
    reward = SelectionReward(max_completion_length=10, overlong_cache=4)
    logged = {}
    out = reward(prompts=[[{"role": "user", "content": "p"}]] * 3,
                 completions=[[{"role": "assistant", "content": "Judgment: 1"}], "Judgment: 0", "nothing"],
                 completion_ids=[[1] * 3, [1] * 10, [1] * 3], n_candidates=[2, 2, 2],
                 correct_positions=[[1], [1], [1]], log_metric=lambda k, v: logged.__setitem__(k, v))
    assert out == [1.0, -1.0, 0.0]
    assert logged["selection/parse_rate"] == pytest.approx(2 / 3)
    assert reward.last_correct == [1.0, 0.0, 0.0]


# -- dynamic sampling --------------------------------------------------------------------------


def _fake_batch(row_ids, prompt_width, completion_width):
    import torch

    n = len(row_ids)
    return {"prompt_ids": torch.full((n, prompt_width), 5),
            "prompt_mask": torch.ones(n, prompt_width, dtype=torch.long),
            "completion_ids": torch.full((n, completion_width), 7),
            "completion_mask": torch.ones(n, completion_width, dtype=torch.long),
            "advantages": torch.tensor(row_ids, dtype=torch.float32),
            "num_items_in_batch": torch.tensor(n * completion_width)}


def test_group_keep_mask():
    from trainers.dapo_trl import group_keep_mask

    assert group_keep_mask([0, 0, 1, 0, 1, 1, 0.5, 0.5], 2) == [False, True, False, False]
    assert group_keep_mask([float("nan"), 1, 0, float("nan")], 2) == [False, False]
    with pytest.raises(ValueError):
        group_keep_mask([0, 1, 0], 2)


def test_fill_batch_drops_all_equal_groups_and_refills():
    from trainers.dapo_trl import fill_batch

    rounds = {0: ([0, 0, 1, 0, 1, 1], [10, 11, 12, 13, 14, 15], 3, 4),  # keeps group 1 only
              1: ([0, 1, 0, 0, 1, 0], [20, 21, 22, 23, 24, 25], 5, 2),  # keeps groups 0 and 2
              2: ([1, 0, 1, 0, 1, 0], [30, 31, 32, 33, 34, 35], 3, 3)}  # never reached
    calls = []

    def round_fn(r):
        rewards, ids, pw, cw = rounds[r]
        calls.append(r)
        return _fake_batch(ids, pw, cw), rewards

    batch, report = fill_batch(round_fn, target_groups=3, group_size=2, max_rounds=10, pad_token_id=0)
    assert calls == [0, 1]
    assert batch["advantages"].tolist() == [12, 13, 20, 21, 24, 25]  # kept rows, refill appended
    assert (report.groups_dropped == 3 and report.groups_seen == 6 and report.groups_kept == 3
            and report.rounds == 2)
    assert batch["prompt_ids"].shape == (6, 5) and batch["completion_ids"].shape == (6, 4)
    assert batch["prompt_mask"][:2].tolist() == [[0, 0, 1, 1, 1]] * 2  # prompts padded on the left
    assert batch["completion_mask"][2:].tolist() == [[1, 1, 0, 0]] * 4  # completions padded on the right
    assert batch["prompt_ids"][0, 0].item() == 0 and batch["completion_ids"][2, 3].item() == 0


def test_fill_batch_shortfall_pads_masked_or_raises():
    from trainers.dapo_trl import ShortfallError, fill_batch

    def round_fn(r):
        return _fake_batch([r * 10 + i for i in range(4)], 3, 3), [0, 1, 1, 1] if r == 0 else [0, 0, 0, 0]

    batch, report = fill_batch(round_fn, target_groups=2, group_size=2, max_rounds=2, pad_token_id=0)
    assert (report.rounds == 2 and report.groups_kept == 1 and report.groups_padded == 1
            and report.groups_dropped == 3)
    assert batch["completion_mask"][:2].sum() == 6 and batch["completion_mask"][2:].sum() == 0
    assert batch["advantages"][2:].tolist() == [0.0, 0.0]
    with pytest.raises(ShortfallError):
        fill_batch(round_fn, target_groups=2, group_size=2, max_rounds=2, pad_token_id=0,
                   on_shortfall="error")
    # several processes: every process stops only when the slowest one is full
    seen = []
    batch, report = fill_batch(round_fn, target_groups=1, group_size=2, max_rounds=3, pad_token_id=0,
                               min_across_processes=lambda have: (seen.append(have)
                                                                   or (0 if len(seen) < 2 else have)))
    assert report.rounds == 2 and batch["advantages"].tolist() == [0.0, 1.0] and seen == [1, 1]


def test_dapo_trainer_step_drops_and_refills(tmp_path):
    """A DAPOTrainer step on a tiny random model: dead groups are dropped, the batch refilled."""
    pytest.importorskip("trl")
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from harness.models import materialize
    from trainers.dapo_config import grpo_config
    from trainers.dapo_trl import _trainer_class, to_trl_dataset

    tokenizer = AutoTokenizer.from_pretrained(materialize("smollm2-135m"))
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                         max_position_embeddings=512, tie_word_embeddings=True))
    records = [selection_task(f"t{i}", f"Task {i}: pick one. Judgment: <index>", 2 + (i % 2), [0])
               for i in range(8)]

    calls = []

    def scripted(prompts, completions, completion_ids, n_candidates, **_):
        # The first generation round scores all 0 (every group dead: all dropped for certain);
        # later rounds score the parity of the first token, mixed within most groups.
        calls.append(len(completions))
        if len(calls) == 1:
            return [0.0] * len(completions)
        return [float(ids[0] % 2) for ids in completion_ids]

    dapo = {"max_steps": 1, "prompts_per_step": 2, "num_generations": 4, "per_device_train_batch_size": 8,
            "max_completion_length": 6, "learning_rate": 1e-3, "lr_scheduler_type": "constant",
            "warmup_steps": 0, "weight_decay": 0.0, "max_grad_norm": 1.0, "epsilon": 0.2,
            "epsilon_high": 0.28, "beta": 0.0, "loss_type": "dapo", "scale_rewards": "group",
            "mask_truncated_completions": False,
            "temperature": 1.0, "top_p": 1.0, "top_k": 0, "num_iterations": 1, "seed": 0, "bf16": False,
            "gradient_checkpointing": False, "use_vllm": False, "logging_steps": 1}
    args = grpo_config(dapo, str(tmp_path / "out"), cuda=False, processes=1)
    assert (args.loss_type, args.epsilon, args.epsilon_high, args.beta) == ("dapo", 0.2, 0.28, 0.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = _trainer_class()(model=model, reward_funcs=[scripted], args=args,
                               train_dataset=to_trl_dataset(records), processing_class=tokenizer,
                               dynamic_sampling=True, max_num_gen_batches=8, filter_metric="reward")
    trainer.train()
    (row,) = trainer.sampling_history
    assert row["groups_kept"] == 2 and row["groups_padded"] == 0
    # dropped, refilled
    assert row["groups_dropped"] >= 2 and row["rounds"] >= 2 and len(calls) == row["rounds"]
    assert row["groups_seen"] == row["rounds"] * 2
    assert trainer._metrics["train"]["dynamic_sampling/dropped_groups"] or any(
        "dynamic_sampling/dropped_groups" in h for h in trainer.state.log_history)
    changed = any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert changed


# -- cpu-smoke end to end ----------------------------------------------------------------------


def _synthetic_arith_pool(results_dir: Path, task_arg: str):
    """A graded pool of hand-written candidates for arith train problems (no generation needed)."""
    from harness.plugins import load_task
    from harness.pools import PoolStore
    from harness.settings import Settings
    from harness.types import GenSpec

    settings = Settings.resolve(results_dir=results_dir)
    task = load_task(f"arith:{task_arg}", settings)
    pool = PoolStore(settings.pools_dir).create(task.name, GenSpec(backend="import", model="synthetic",
                                                                   source="tests"),
                                                task.problems(), label="synthetic")
    cands = []
    for p in task.problems():
        a, b = p.metadata["operands"]
        for j in range(8):
            value = a * b if j < 2 else a * b + (j - 1) * (1 if j % 2 else -1)
            cands.append(Candidate(p.id, j, f"{a} times {b} is {value}."))
    pool.append(cands)
    return pool


@pytest.mark.slow
def test_cpu_smoke_end_to_end(tmp_path):
    pytest.importorskip("trl")
    from safetensors.torch import load_file

    from harness.checkpoints import resolve_checkpoint
    from harness.models import materialize
    from harness.selectors.genselect import RLGenSelect
    from trainers.train import main

    results = tmp_path / "results"
    pool = _synthetic_arith_pool(results, "level=mul1,n=8,split=train,seed=0")
    entry = main("trainers/configs/cpu-smoke.yaml", results_dir=str(results), overrides={"data": {"pools": [
        {"task": "arith:level=mul1,n=8,split=train,seed=0", "pool": str(pool.path)}]}})
    assert entry["steps"] == 2 and entry["base_model"] == "smollm2-135m"
    # Steps are rollout steps (DAPO/verl): cpu-smoke's max_steps 2 with updates_per_step 2 is
    # 2 generation batches and 2 x 2 = 4 TRL optimizer steps; the record keeps both counts.
    from trainers.train import load_config

    smoke = load_config("cpu-smoke")["dapo"]
    assert smoke["updates_per_step"] == 2 and entry["steps"] == smoke["max_steps"]
    assert entry["optimizer_steps"] == 4 and entry["step_plan"]["trl_max_steps"] == 4
    assert entry["step_plan"]["rollout_steps"] == 2 and entry["step_plan"]["updates_per_rollout"] == 2
    assert entry["data"]["tasks"] > 0 and len(entry["data"]["sha256_16"]) == 16 and entry["config_hash"]
    folder = Path(entry["path"])
    assert (folder / "config.json").is_file() and (folder / "tokenizer.json").is_file()
    record = json.loads((folder / "training.json").read_text())["entry"]
    assert (record["steps"], record["optimizer_steps"]) == (2, 4)
    curves = json.loads((folder / "curves.json").read_text())
    # one row per rollout step, each from one generation batch (the trainer's own counter);
    # TRL's loss rows (optimizer steps 2 and 4) land on rollout steps 1 and 2
    assert [s["step"] for s in curves["steps"]] == [1, 2]
    assert [s["optimizer_step"] for s in curves["steps"]] == [1, 3]
    assert all("loss" in s and s["rounds"] >= 1 for s in curves["steps"])
    assert all("groups_dropped" in s and "parse_rate" in s for s in curves["steps"])
    assert len(entry["metrics"]["reward_mean_per_step"]) == 2
    # the policy moved: compare a weight tensor with the base model
    base = load_file(str(next(Path(materialize("smollm2-135m")).glob("*.safetensors"))))
    trained = load_file(str(next(folder.glob("*.safetensors"))))
    key = "model.layers.0.self_attn.q_proj.weight"
    assert not bool((base[key] == trained[key]).all())
    # registered, and rl-genselect resolves it
    assert resolve_checkpoint(results)["name"] == entry["name"]
    selector = RLGenSelect.from_checkpoint(str(results))
    assert selector.judge_model == entry["path"] and selector.checkpoint == entry["name"]
    assert selector.max_tokens == entry["max_tokens"] == 24
    # ... and `python -m harness run --selector rl-genselect` evaluates it, naming it in the leaderboard.
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "harness", "run", "--task", "arith:level=mul1,n=3",
                           "--model", "smollm2-135m", "--samples", "4", "--max-tokens", "8", "--selector",
                           "rl-genselect", "--n", "4", "--llm-draws", "1", "--judge-max-tokens", "8",
                           "--results-dir", str(results), "--json"],
                          capture_output=True, text=True, env={**os.environ}, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert summary["runs"][0]["selector"] == "rl-genselect"
    record = json.loads((Path(summary["runs"][0]["run_dir"]) / "run.json").read_text())
    assert record["selector"]["checkpoint"] == entry["name"]
    assert record["selector"]["judge"]["model"] == entry["path"]
    assert f"rl-genselect [{entry['name']}]" in (results / "leaderboard.md").read_text()


# -- verl ----------------------------------------------------------------------------------------


def test_verl_export_schema_and_config(tmp_path):
    import pandas as pd

    from trainers.train import load_config
    from trainers.verl_export import export_verl, hydra_overrides

    records, stats = _synthetic_build(10)
    dataset = write_dataset(tmp_path / "tasks.jsonl", records, {})
    paths = export_verl(dataset, tmp_path / "verl", load_config("paper-math"), val_fraction=0.2)
    train, val = pd.read_parquet(paths["train"]), pd.read_parquet(paths["val"])
    assert len(train) + len(val) == len(records) and len(val) > 0
    problem_of = lambda frame: set(frame["extra_info"].map(lambda e: e["problem_id"]))  # noqa: E731
    assert problem_of(train).isdisjoint(problem_of(val))  # validation problems never appear in training
    assert list(train.columns) == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    row = train.iloc[0]
    assert row["data_source"] == "harness/genselect-math" and row["ability"] == "selection-math"
    assert list(row["prompt"][0].keys()) == ["role", "content"] and row["prompt"][0]["role"] == "user"
    original = next(r for r in records if r.task_id == row["extra_info"]["task_id"])
    assert row["prompt"][0]["content"] == original.prompt
    assert row["reward_model"]["style"] == "rule"
    truth = json.loads(row["reward_model"]["ground_truth"])
    assert truth == {"correct_positions": list(original.correct_positions),
                     "n_candidates": original.n_candidates}
    assert tuple(row["extra_info"]["shown_indices"]) == original.shown_indices
    assert list(row["extra_info"]) == ["index", "split", "task_id", "problem_id", "pool_key",
                                       "shown_indices", "correct_positions", "n_candidates"]
    overrides = Path(paths["overrides"]).read_text().splitlines()
    # verl 0.9.1's keys (tests/trainers/test_verl_conformance.py holds them against verl's own schema):
    # plain `key=value` for keys it has, `+` only for keys it does not declare, never `++`
    expected = {"data.train_batch_size=128", "actor_rollout_ref.rollout.n=16",
                "actor_rollout_ref.actor.optim.lr=1e-06",
                "data.max_prompt_length=16384", "data.max_response_length=16384",
                "actor_rollout_ref.actor.clip_ratio_low=0.2",
                "actor_rollout_ref.actor.clip_ratio_high=0.28",
                "actor_rollout_ref.actor.loss_agg_mode=token-mean",
                "actor_rollout_ref.actor.use_kl_loss=False",
                "algorithm.filter_groups.enable=True", "algorithm.filter_groups.metric=acc",
                "actor_rollout_ref.model.path=Qwen/Qwen3-1.7B",
                "reward.custom_reward_function.path=trainers/verl_reward.py",
                "reward.custom_reward_function.name=compute_score",
                "reward.reward_manager.name=dapo", "+reward.reward_kwargs.max_resp_len=16384",
                "+reward.reward_kwargs.overlong_buffer_cfg.enable=True",
                "+reward.reward_kwargs.overlong_buffer_cfg.len=4096",
                "+data.apply_chat_template_kwargs.enable_thinking=True",
                f"data.train_files={paths['train']}"}
    assert expected <= set(overrides), expected - set(overrides)
    assert not any(o.startswith("++") for o in overrides)
    # nothing in the legacy keys verl 0.9's main_ppo ignores, nor the ones its trainer ignores
    keys = {o.lstrip("+").split("=")[0] for o in overrides}
    assert not any(k.startswith(("custom_reward_function.", "reward_model.")) for k in keys)
    assert "algorithm.filter_groups.max_num_gen_batches" not in keys and "data.gen_batch_size" not in keys
    assert "max_num_gen_batches is ignored" in Path(paths["config"]).read_text()
    assert "V1 ReplayBuffer" in Path(paths["readme"]).read_text()
    code = hydra_overrides({"n": 8}, "actor_rollout_ref.rollout")
    assert code == ["actor_rollout_ref.rollout.n=8"]
    added = hydra_overrides({"reward_kwargs": {"max_resp_len": 8}}, "reward")
    assert added == ["+reward.reward_kwargs.max_resp_len=8"]
    import yaml

    from trainers.verl_export import TEMPLATE, verl09_layout

    template = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))  # the shipped one: verl 0.9's layout
    assert verl09_layout(template) == template  # no legacy reward key, no max_num_gen_batches
    # a user's template in the legacy layout: its keys move to where verl 0.9 reads them

    moved = verl09_layout({"custom_reward_function": {"path": "p.py", "name": "f"},
                           "reward_model": {"reward_manager": "dapo", "reward_kwargs": {"max_resp_len": 4}},
                           "algorithm": {"filter_groups": {"enable": True, "max_num_gen_batches": 10}}})
    assert moved == {"algorithm": {"filter_groups": {"enable": True}},
                     "reward": {"custom_reward_function": {"path": "p.py", "name": "f"},
                                "reward_manager": {"name": "dapo"}, "reward_kwargs": {"max_resp_len": 4}}}
    with pytest.raises(ValueError, match="reward_model.enable"):
        verl09_layout({"reward_model": {"enable": True}})
    assert load_config("paper-code")["dapo"]["num_generations"] == 8
    launch = Path(paths["launch"]).read_text()
    assert "launch_verl.sh" in launch
    script = (Path(__file__).parents[2] / "trainers" / "launch_verl.sh").read_text()
    assert "ray job submit" in script and "verl.trainer.main_ppo" in script
    import subprocess  # the launcher refuses legacy keys verl 0.9 would ignore, before it submits

    refused = subprocess.run(["bash", paths["launch"], "reward_model.reward_manager=dapo"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "legacy verl key" in refused.stderr


def test_verl_reward_module_known_cases():
    from trainers.verl_reward import compute_score

    truth = json.dumps({"correct_positions": [0, 2], "n_candidates": 3})
    assert compute_score("harness/genselect-math", "<think>hmm</think>Judgment: 2", truth)["score"] == 1.0
    assert compute_score("harness/genselect-math", "Judgment: 1", truth) == {"score": 0.0, "acc": 0.0,
                                                                             "parsed": 1, "parse_ok": True}
    bad = compute_score("harness/genselect-math", "Judgment: 3", truth)  # out of range
    assert bad["score"] == 0.0 and bad["parsed"] == -1 and not bad["parse_ok"]
    assert compute_score("x", "<think>Judgment: 0", truth)["score"] == 0.0  # never left thinking
    assert compute_score("x", "Judgment: 0", [0], extra_info={"n_candidates": 2})["acc"] == 1.0
    # the same parser as the evaluation selector
    from harness.selectors.judgment import parse_judgment

    for text in ("Judgment: 1", "**Judgement:** 0", "junk", "Judgment: 9"):
        expected = parse_judgment(text, 3)
        assert compute_score("x", text, truth)["parsed"] == (-1 if expected is None else expected)


def test_wall_clock_budget_stops_at_a_step_boundary():
    from transformers import TrainerControl, TrainerState

    from trainers.wall_clock import wall_clock_callback

    state = TrainerState(global_step=3, max_steps=60)
    roomy = wall_clock_callback(max_minutes=60)
    assert not roomy.on_step_end(None, state, TrainerControl()).should_training_stop
    spent = wall_clock_callback(max_minutes=0)
    control = spent.on_step_end(None, state, TrainerControl())
    assert control.should_training_stop and spent.stopped_early


def _selection_records(n: int) -> list[SelectionTask]:
    from harness.selectors.genselect import GenSelect

    selector = GenSelect()
    records = []
    for i in range(n):
        k = 2 + i % 3
        views = [f"{i} + {j} = {i + j}. The answer is {i + j}." for j in range(k)]
        records.append(selection_task(f"t{i}", selector.build_prompt(f"What is {i} + {i % k}?", views),
                                      k, [i % k]))
    return records


def test_warmup_targets_are_uniform_over_positions_and_ignore_correctness():
    from collections import Counter

    from trainers.format_warmup import WarmupOptions, warmup_targets

    records = _selection_records(600)
    opts = WarmupOptions(enable=True, examples=600)
    pairs = warmup_targets(records, opts)
    assert len(pairs) == 600 and pairs == warmup_targets(records, opts)  # seeded
    by_prompt = {r.prompt: r for r in records}
    picks = Counter()
    hits = 0
    for prompt, target in pairs:
        k = int(target.removeprefix("Judgment: "))
        record = by_prompt[prompt]
        assert 0 <= k < record.n_candidates
        picks[(record.n_candidates, k)] += 1
        hits += k in record.correct_positions
    for size in (2, 3, 4):  # every position of every set size is used, roughly equally
        counts = [picks[(size, k)] for k in range(size)]
        assert min(counts) > 0.6 * max(counts)
    # labels agree with the correct position only at the chance rate (1/2, 1/3, 1/4 -> ~0.36)
    assert abs(hits / 600 - (1 / 2 + 1 / 3 + 1 / 4) / 3) < 0.08
    # a task's label does not depend on which other tasks were drawn
    small = dict(warmup_targets(records[:50], WarmupOptions(enable=True, examples=50)))
    assert all(small[p] == t for p, t in pairs if p in small)


@pytest.mark.slow
def test_format_warmup_teaches_the_verdict_line(tmp_path):
    from harness.models import materialize
    from trainers.format_warmup import WarmupOptions, run_format_warmup

    records = _selection_records(24)
    opts = WarmupOptions(enable=True, examples=24, epochs=2, batch_size=8, learning_rate=5e-5,
                         check_prompts=8)
    report = run_format_warmup(materialize("smollm2-135m"), records, opts, str(tmp_path / "warm"))
    assert report.steps == 6 and report.loss_last < report.loss_first
    assert (tmp_path / "warm" / "config.json").is_file() and (tmp_path / "warm" / "tokenizer.json").is_file()
    assert report.parse_rate_after >= 0.5  # the base model parses ~1 % at temperature 1
    assert sum(report.label_counts.values()) == 24


@pytest.mark.slow
def test_lora_training_ships_a_small_adapter_that_rl_genselect_resolves(tmp_path, monkeypatch):
    """lora.enable: warm-up and DAPO train one adapter; the checkpoint is the adapter alone, loads
    merged into its base by name, ships under 20 MB with its training record, and is what
    rl-genselect resolves until a newer local checkpoint exists."""
    pytest.importorskip("peft")
    import harness.checkpoints as checkpoints
    from harness.backends.hf_backend import HFBackend
    from harness.models import load_causal_lm
    from harness.selectors.genselect import RLGenSelect
    from trainers.train import main

    results = tmp_path / "results"
    pool = _synthetic_arith_pool(results, "level=mul1,n=8,split=train,seed=0")
    source = {"task": "arith:level=mul1,n=8,split=train,seed=0", "pool": str(pool.path)}
    overrides = {"data": {"pools": [source]},
                 "lora": {"enable": True, "r": 4, "alpha": 8},
                 "warmup": {"enable": True, "examples": 4, "batch_size": 4, "learning_rate": 1e-3,
                            "check_prompts": 2},
                 "dapo": {"max_steps": 1, "updates_per_step": 1, "learning_rate": 1e-3}}
    entry = main("trainers/configs/cpu-smoke.yaml", results_dir=str(results), overrides=overrides)
    folder = Path(entry["path"])
    assert (folder / "adapter_model.safetensors").is_file() and not (folder / "model.safetensors").exists()
    adapter_config = json.loads((folder / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == "smollm2-135m"
    assert entry["lora"]["r"] == 4 and 0 < entry["lora"]["adapter_mb"] < 20
    # merged at load: a plain model whose weights differ from the base where the adapter sits
    merged, _ = load_causal_lm(str(folder))
    base, _ = load_causal_lm("smollm2-135m")
    key = "model.layers.0.self_attn.q_proj.weight"
    assert type(merged).__name__ == type(base).__name__
    assert not bool((merged.state_dict()[key] == base.state_dict()[key]).all())
    assert HFBackend(str(folder)).generate([], progress=False) == []
    # shipped: a folder with the adapter and its training record, found from an empty results tree
    monkeypatch.setattr(checkpoints, "REPO_SHIPPED", tmp_path / "repo-shipped")
    shipped = checkpoints.ship_checkpoint(results, entry["name"], tmp_path / "repo-shipped")
    manifest = json.loads((shipped / "checkpoint.json").read_text())
    assert manifest["name"] == entry["name"] and manifest["config_hash"] == entry["config_hash"]
    assert manifest["data"]["sha256_16"] == entry["data"]["sha256_16"] and manifest["steps"] == 1
    assert {"adapter_model.safetensors", "training.json", "curves.json"} <= set(manifest["shipped_files"])
    assert not (shipped / "tokenizer.json").exists() and manifest["shipped_mb"] < 20
    fresh = tmp_path / "fresh"
    selector = RLGenSelect.from_checkpoint(str(fresh))
    assert selector.checkpoint == entry["name"] and selector.judge_model == str(shipped.resolve())
    assert selector.max_tokens == entry["max_tokens"]
    # a newer local checkpoint wins over the shipped one
    checkpoints.register_checkpoint(fresh, {"name": "newer", "path": str(folder),
                                            "base_model": "smollm2-135m"})
    assert RLGenSelect.from_checkpoint(str(fresh)).checkpoint == "newer"
    # a whole model is refused as a shipped artifact
    with pytest.raises(checkpoints.CheckpointError, match="over the 1 MB"):
        checkpoints.ship_checkpoint(results, entry["name"], tmp_path / "x", limit_mb=1)
