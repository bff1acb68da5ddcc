"""Grading fanned out over a real Ray cluster (a local head bound to 127.0.0.1, CPU only): the
same grades and numbers as grading on this machine, every row written once by the driver; with
the shared data also LiveCodeBench-style code grading, the sandbox running inside Ray workers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from harness.jsonl import read_records

REPO = Path(__file__).resolve().parents[2]
ARITH = "arith:level=mixed,n=40,split=test,seed=0"


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    pytest.importorskip("ray")
    from llama_server import free_port

    ray_cli = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    if ray_cli is None:
        pytest.skip("the ray command is not installed")
    port = free_port()
    temp = tmp_path_factory.mktemp("ray")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    subprocess.run([ray_cli, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                    "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
                    f"--temp-dir={temp}"], check=True, capture_output=True, env=env, timeout=180)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, env=env, timeout=120)


def _cli(results: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "harness", *args, "--results-dir", str(results)], cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _import_arith(results: Path) -> None:
    from harness.plugins import load_task
    from harness.settings import Settings

    task = load_task(ARITH, Settings.resolve(results_dir=results))
    rows = [{"problem_id": p.id, "model": "m", "sample_index": i, "response": f"It is {i * 7 % 50}."}
            for p in task.problems() for i in range(16)]  # 640 candidates: two chunks of whole problems
    source = results.parent / f"{results.name}.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _cli(results, "pool", "import", "--task", ARITH, "--label", "p", str(source))


def _rows(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(("majority", "oracle", "first"))]


@pytest.mark.slow
def test_grading_on_a_ray_cluster_matches_grading_here(ray_head, tmp_path):
    here, cluster = tmp_path / "here", tmp_path / "cluster"
    for results in (here, cluster):
        _import_arith(results)
    args = ("run", "--task", ARITH, "--pool", "p", "--selector", "first,majority,oracle", "--n", "1,4,16",
            "--quiet")
    local = _cli(here, *args)
    fanned = _cli(cluster, *args, "--ray", ray_head)
    assert "grading on the Ray cluster at" in fanned and _rows(fanned) == _rows(local) != []
    (grades,) = cluster.glob("pools/**/grades.*.jsonl")
    keys = Counter((r["problem_id"], r["index"]) for r in read_records(grades, "grades")[1])
    assert len(keys) == 640 and max(keys.values()) == 1


@pytest.mark.slow
def test_code_grading_in_the_sandbox_on_ray_workers(ray_head, tmp_path):
    data = os.environ.get("HARNESS_DATA_DIR")
    if not data:
        pytest.skip("HumanEval programs come from the shared data (HARNESS_DATA_DIR)")
    pool_file = Path(data) / "pools" / "humaneval" / "codegen-16b.jsonl"
    subset = tmp_path / "he.jsonl"
    with pool_file.open() as source, subset.open("w") as out:
        for line in source:  # the first 6 problems' 100 programs each
            if int(json.loads(line)["problem_id"].rsplit("/", 1)[-1]) < 6:
                out.write(line)
    results = {name: tmp_path / name for name in ("here", "cluster")}
    for root in results.values():
        _cli(root, "pool", "import", "--task", "humaneval", str(subset))
    args = ("run", "--task", "humaneval", "--pool", "codegen-16b", "--limit", "6", "--selector",
            "first,majority,oracle", "--n", "1,10", "--quiet")
    local = _cli(results["here"], *args)
    fanned = _cli(results["cluster"], *args, "--ray", ray_head)
    assert _rows(fanned) == _rows(local) != []
