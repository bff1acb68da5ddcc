"""The verl export held against the real verl 0.9.1 (DESIGN.md section 12), in its own venv.

verl pins transformers < 5.11, so it cannot share the main venv: `.ci/verl_venv.sh` makes
`.venv-verl` (verl 0.9.1, CPU torch) and these tests skip without it. The export runs here, in the
main venv; tests/trainers/verl_check.py runs in `.venv-verl` and checks it with verl's own code:
  - verl's hydra config (ppo_trainer.yaml, as main_ppo composes it, struct mode) takes EVERY
    exported override, each value lands at its key, and main_ppo's validate_config passes;
    a misspelt key fails, and so does `+` on a key the schema has;
  - verl's reward loading (get_custom_reward_fn, load_reward_manager) finds our compute_score and
    the DAPO reward manager with the overlong buffer, and scores known judgments;
  - verl's RLHFDataset reads train.parquet with the judge's tokenizer (the embedded SmolLM2), and
    a sample's prompt tokens, built as verl's agent loop builds them, decode to the exported prompt;
  - the trainer main_ppo runs (V1, sync) resolves filter_groups to our `acc` without warnings.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from harness.types import Candidate, Grade, Problem
from trainers.eval_guard import EvalGuard
from trainers.selection_data import BuildOptions, PoolSource, build_selection_tasks, write_dataset

REPO_ROOT = Path(__file__).resolve().parents[2]
VERL_PYTHON = REPO_ROOT / ".venv-verl" / "bin" / "python"
CHECKER = REPO_ROOT / "tests" / "trainers" / "verl_check.py"

pytestmark = pytest.mark.skipif(
    not VERL_PYTHON.is_file(),
    reason="no verl venv: run `bash .ci/verl_venv.sh` to install verl 0.9.1 into .venv-verl")


class _Pool:
    key, ref = "verlpool", "synthetic/model/verlpool"


class _Task:
    kind, name = "math", "synthetic-verl"

    def __init__(self, problems):
        self._problems = problems

    def problems(self):
        return self._problems


def _selection_dataset(path: Path, n_problems: int = 10) -> Path:
    """Selection tasks from the real builder: problems of 2 correct and 6 wrong candidates."""
    problems = [Problem(f"verl-{i}", "synthetic-verl", f"What is {i} times {i + 3}?", {})
                for i in range(n_problems)]
    cands, grades = {}, {}
    for p in problems:
        right = str(int(p.id.split("-")[1]) * (int(p.id.split("-")[1]) + 3))
        answers = [right, right] + [f"{right}{j}" for j in range(6)]
        cands[p.id] = [Candidate(p.id, j, f"Step {j}. The answer is {a}.") for j, a in enumerate(answers)]
        grades[p.id] = [Grade(p.id, j, "correct" if j < 2 else "wrong", j < 2, a)
                        for j, a in enumerate(answers)]
    source = PoolSource(pool=_Pool(), task=_Task(problems), candidates=cands, grades=grades)
    records, _stats = build_selection_tasks([source], BuildOptions(), guard=EvalGuard())
    assert records
    return write_dataset(path, records, {})


def _run_checker(tmp: Path, export: Path, *args: str) -> dict:
    out = tmp / f"verl-check-{len(list(tmp.glob('verl-check-*')))}.json"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               HF_DATASETS_CACHE=str(tmp / "hf-datasets"), RAY_USAGE_STATS_ENABLED="0")
    proc = subprocess.run([str(VERL_PYTHON), str(CHECKER), "--export", str(export), "--out", str(out), *args],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0 and out.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    from trainers.train import load_config
    from trainers.verl_export import export_verl

    tmp = tmp_path_factory.mktemp("verl-conformance")
    dataset = _selection_dataset(tmp / "tasks.jsonl")
    paths = export_verl(dataset, tmp / "export", load_config("paper-math"), val_fraction=0.2)
    return tmp, Path(paths["overrides"]).parent


@pytest.fixture(scope="module")
def checked(export):
    from harness.models import materialize

    tmp, out = export
    return _run_checker(tmp, out, "--tokenizer", materialize("smollm2-135m"))


def _ok(result: dict, stage: str) -> dict:
    section = result[stage]
    assert section["ok"], f"{stage}: {section.get('error')}\n{section.get('traceback', '')}"
    return section


def test_every_override_composes_strictly_in_verls_schema(checked, export):
    assert checked["verl_version"] == "0.9.1"
    compose = _ok(checked, "compose")  # hydra compose + main_ppo's validate_config
    overrides = [line for line in (export[1] / "overrides.txt").read_text().splitlines() if line.strip()]
    assert compose["struct"] and compose["n_overrides"] == len(overrides)
    assert compose["double_plus"] == [] and compose["mismatches"] == {}
    assert {o.split("=")[0] for o in compose["plus"]} == {
        "+data.apply_chat_template_kwargs.enable_thinking", "+reward.reward_kwargs.max_resp_len",
        *(f"+reward.reward_kwargs.overlong_buffer_cfg.{k}"
          for k in ("enable", "len", "penalty_factor", "log"))}
    assert compose["reward"] == {
        "path": "trainers/verl_reward.py", "name": "compute_score", "reward_manager": "dapo",
        "reward_kwargs": {"overlong_buffer_cfg": {"enable": True, "len": 4096, "penalty_factor": 1.0,
                                                  "log": False},
                          "max_resp_len": 16384}}
    # nothing in the legacy sections, which verl 0.9's main_ppo ignores
    assert compose["legacy"] == {"custom_reward_function": {"path": None, "name": None},
                                 "reward_model.reward_manager": None}
    assert compose["filter_groups"]["enable"] is True and compose["filter_groups"]["metric"] == "acc"
    assert compose["filter_groups"]["max_num_gen_batches"] == 0  # verl's default: not exported


def test_reward_loads_through_verl_and_scores_known_cases(checked):
    reward = _ok(checked, "reward")
    for name, case in reward["cases"].items():
        assert case["score"] == case["expected"] and case["acc"] == case["expected"], name
    assert reward["cases"]["correct"]["score"] == 1.0 and reward["cases"]["wrong"]["score"] == 0.0
    assert reward["cases"]["unparseable"] == {"expected": 0.0, "score": 0.0, "acc": 0.0, "parsed": -1}
    assert reward["manager"].endswith("reward_manager.dapo.DAPORewardManager")
    assert reward["manager_overlong_buffer_cfg"]["enable"] is True and reward["manager_max_resp_len"] == 16384
    assert reward["manager_runs"] == {"correct": {"reward_score": 1.0, "acc": 1.0},
                                      "wrong": {"reward_score": 0.0, "acc": 0.0}}


def test_verls_dataset_reads_the_parquet_with_the_judges_tokenizer(checked):
    data = _ok(checked, "dataset")
    assert data["dataset_cls"] == "verl.utils.dataset.rl_dataset.RLHFDataset"
    assert data["rows"] == data["parquet_rows"] > 0  # the length filter kept every prompt
    assert data["raw_prompt"] == [{"role": "user", "content": data["exported_prompt"]}]
    assert data["decoded_contains_prompt"] and data["decoded_equals_template"]
    assert data["n_prompt_tokens"] > 50
    assert data["data_source"] == "harness/genselect-math" and data["row_reward_correct"] == 1.0


def test_default_trainer_filters_groups_on_acc(checked):
    sampling = _ok(checked, "sampling")
    assert sampling["use_v1"] and sampling["trainer_mode"] == "sync"
    assert sampling["trainer_cls"] == "verl.trainer.ppo.v1.trainer_sync.PPOTrainerSync"
    assert sampling["filter_metric"] == "acc" and sampling["warnings"] == []
    # a cap on generation rounds is ignored by this trainer: verl says so, and the export leaves it out
    assert any("max_num_gen_batches=10 is ignored" in w for w in sampling["max_num_gen_batches_10_warnings"])


def test_strict_compose_rejects_misspelt_keys_and_legacy_keys_are_ignored(export):
    tmp, out = export
    legacy = ("!reward.custom_reward_function !reward.reward_manager"
              " custom_reward_function.path=trainers/verl_reward.py"
              " custom_reward_function.name=compute_score reward_model.reward_manager=dapo")
    tries = _run_checker(tmp, out, "--try-override", "reward.reward_manager.nme=naive",
                         "--try-override", "+reward.reward_manager.name=naive",
                         "--try-override", "++reward.reward_manager.nme=naive",
                         "--try-override", legacy)["tries"]
    misspelt, plus_existing, double_plus, old_keys = tries
    assert not misspelt["ok"] and "Could not override 'reward.reward_manager.nme'" in misspelt["error"]
    assert "Key 'nme' is not in struct" in misspelt["error"]
    assert not plus_existing["ok"]
    assert "An item is already at 'reward.reward_manager.name'" in plus_existing["error"]
    assert double_plus["ok"]  # `++` takes any spelling: why the export never writes it
    # the legacy keys are in verl 0.9's schema, so they compose, but main_ppo reads reward.* only:
    # no custom reward function and the naive manager
    assert old_keys["ok"] and old_keys["dropped"] == 3 and not old_keys["reward_fn_loaded"]
    assert old_keys["reward_manager"].endswith("reward_manager.naive.NaiveRewardManager")
