"""The shipped rl-genselect checkpoint (results/shipped/): small, with its training record, and what
`python -m harness run --selector rl-genselect` uses with no training first, the user's own
command on hmmt25 included (a plumbing run: a 135M judge cannot solve HMMT)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.checkpoints import REPO_SHIPPED, shipped_checkpoints

DATA = os.environ.get("HARNESS_DATA_DIR")


def _shipped() -> dict:
    entries = shipped_checkpoints(Path("/nonexistent"))
    assert len(entries) == 1, f"expected one shipped checkpoint in {REPO_SHIPPED}, found {len(entries)}"
    return entries[0]


def test_the_shipped_checkpoint_is_small_and_carries_its_training_record():
    entry = _shipped()
    folder = Path(entry["path"])
    size_mb = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
    assert size_mb <= 20, f"{folder} is {size_mb:.1f} MB"
    adapter = json.loads((folder / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == entry["base_model"] == "smollm2-135m"
    record = json.loads((folder / "training.json").read_text())
    assert record["entry"]["config_hash"] == entry["config_hash"] and len(entry["data"]["sha256_16"]) == 16
    assert entry["steps"] >= 1 and entry["trainer"] == "trl-grpo-dapo" and entry["lora"]["r"] >= 1
    curves = json.loads((folder / "curves.json").read_text())["steps"]
    assert len(curves) == entry["steps"] and all("reward" in s or "accuracy" in s for s in curves)
    # trained on the arith train split only: the held-out test split never met it
    assert entry["data"]["pools"] and all("-train-" in p for p in entry["data"]["pools"])


@pytest.mark.slow
@pytest.mark.skipif(not DATA, reason="HARNESS_DATA_DIR is not set (hmmt25 problems)")
def test_the_users_hmmt25_command_runs_the_shipped_judge_on_an_imported_pool(tmp_path):
    from harness.plugins import load_task
    from harness.settings import Settings

    entry = _shipped()
    results = tmp_path / "results"
    problems = load_task("hmmt25", Settings.resolve(data_dir=DATA, results_dir=results)).problems()[:2]
    out = tmp_path / "nemo"
    out.mkdir()
    for seed in range(2):  # two candidates per problem that disagree, so the judge is asked
        rows = [{"problem": p.statement, "expected_answer": "unused", "predicted_answer": str(seed + 3 * i),
                 "generation": f"Working it out, the answer is \\boxed{{{seed + 3 * i}}}."}
                for i, p in enumerate(problems)]
        (out / f"output-rs{seed}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    env = {**os.environ, "HARNESS_DATA_DIR": DATA}
    common = ["--results-dir", str(results)]

    def harness(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "harness", *args, *common], capture_output=True,
                              text=True, env=env, timeout=900)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc

    # without --pool or --model: the error lists what exists and the two ways to get a pool
    bare = [sys.executable, "-m", "harness", "run", "--selector", "rl-genselect", "--task", "hmmt25", *common]
    proc = subprocess.run(bare, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2 and "no pool exists for hmmt25" in proc.stderr
    assert "pool import --task hmmt25" in proc.stderr and "--model MODEL" in proc.stderr
    harness("pool", "import", "--task", "hmmt25", str(out), "--format", "nemo-skills",
            "--model", "imported-model")
    proc = subprocess.run(bare, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2 and "pools for hmmt25: hmmt25/imported-model/" in proc.stderr
    summary = json.loads(harness("run", "--selector", "rl-genselect", "--task", "hmmt25",
                                 "--pool", "imported-model", "--n", "2", "--llm-draws", "1", "--limit", "2",
                                 "--quiet", "--json").stdout)
    record = json.loads((Path(summary["runs"][0]["run_dir"]) / "run.json").read_text())
    assert record["selector"]["checkpoint"] == entry["name"]
    assert record["selector"]["judge"]["model"] == entry["path"]
    assert record["llm"]["calls"] == 2 and record["problems"] == 2
    assert f"rl-genselect [{entry['name']}]" in (results / "leaderboard.md").read_text()
