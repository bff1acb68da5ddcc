"""kill -9 in the middle of DAPO, then `python -m harness train --resume`: the run goes on from its
last checkpoint (weights, optimizer, schedule, RNG, data position, DAPO counters) and ends with
the steps of an uninterrupted run (cpu-smoke's step semantics: 3 rollout steps = 6 optimizer steps).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.trainers.test_trainers import _synthetic_arith_pool

REPO = Path(__file__).resolve().parents[2]
TASK = "arith:level=mul1,n=8,split=train,seed=0"


def _config(tmp_path: Path, pool_path: Path) -> Path:
    cfg = yaml.safe_load((REPO / "trainers/configs/cpu-smoke.yaml").read_text())
    cfg["name"] = "resume-check"
    cfg["data"]["pools"] = [{"task": TASK, "pool": str(pool_path)}]
    cfg["dapo"].update(max_steps=3, save_steps=1)
    path = tmp_path / "resume-check.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _train(config: Path, results: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness", "train", "--config", str(config),
                             "--results-dir", str(results), *extra], cwd=REPO, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_train_resumes_after_sigkill_with_the_steps_of_an_uninterrupted_run(tmp_path):
    pytest.importorskip("trl")
    results = tmp_path / "results"
    pool = _synthetic_arith_pool(results, TASK.split(":", 1)[1])
    config = _config(tmp_path, pool.path)
    first = _train(config, results)
    work = results / "checkpoints" / ".work"
    deadline = time.monotonic() + 600
    try:  # SIGKILL as soon as the first rollout step's checkpoint is complete
        while not list(work.glob("*/checkpoint-*/dapo_state.json")):
            assert first.poll() is None, f"training ended before its first checkpoint:\n{first.stdout.read()}"
            assert time.monotonic() < deadline, "no checkpoint within 10 minutes"
            time.sleep(0.5)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    (run_dir,) = work.iterdir()
    index = results / "checkpoints" / "index.jsonl"
    assert not index.exists() or run_dir.name not in index.read_text()  # not registered half-trained

    second = _train(config, results, "--resume")
    out, _ = second.communicate(timeout=900)
    assert second.returncode == 0, out
    assert "[dapo] resuming from checkpoint-" in out
    folder = results / "checkpoints" / run_dir.name
    record = json.loads((folder / "training.json").read_text())
    entry = record["entry"]
    assert (entry["steps"], entry["optimizer_steps"]) == (3, 6)  # as uninterrupted: plan 3 x 2 updates
    assert entry["step_plan"]["trl_max_steps"] == 6
    assert 1 <= entry["resumed_from_step"] < 3
    curves = json.loads((folder / "curves.json").read_text())
    assert [s["step"] for s in curves["steps"]] == [1, 2, 3]  # every rollout step once, none repeated
    assert not run_dir.exists()  # the resumable checkpoints are removed once the run is registered

    again = subprocess.run([sys.executable, "-m", "harness", "train", "--config", str(config),
                            "--results-dir", str(results), "--resume"], cwd=REPO, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 2 and "no unfinished run of this config" in again.stderr
