"""Two runs at once on one results tree, same pool, same judge (the embedded SmolLM2 prompted as
GenSelect): both finish with identical numbers, every file reads cleanly, the grades file holds
each candidate once, and the judge cache each call once.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from harness.jsonl import read_records

REPO = Path(__file__).resolve().parents[2]
TASK = "arith:level=mul1,n=6,split=test,seed=0"


def _pool(results: Path) -> None:
    """An imported pool of 6 problems x 4 candidates (half right, half off by one)."""
    from harness.plugins import load_task
    from harness.pool_import import import_pool
    from harness.pools import PoolStore
    from harness.settings import Settings

    settings = Settings.resolve(results_dir=results)
    task = load_task(TASK, settings)
    rows = []
    for p in task.problems():
        a, b = p.metadata["operands"]
        for i in range(4):
            rows.append({"problem_id": p.id, "model": "m", "sample_index": i,
                         "response": f"{a} times {b} is {a * b + (i // 2) * (i % 2 * 2 - 1)}."})
    source = results.parent / "pool.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    import_pool(PoolStore(settings.pools_dir), task, [source], label="shared")


@pytest.mark.slow
def test_two_runs_on_one_tree_agree_and_write_each_entry_once(tmp_path):
    pytest.importorskip("transformers")
    results = tmp_path / "results"
    _pool(results)
    argv = [sys.executable, "-m", "harness", "run", "--task", TASK, "--pool", "shared", "--results-dir",
            str(results), "--selector", "majority,genselect", "--judge-model", "smollm2-135m",
            "--judge-max-tokens", "24", "--n", "2,4", "--llm-draws", "1", "--quiet"]
    procs = [subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    for proc, (out, err) in zip(procs, outs):
        assert proc.returncode == 0, err
    # the accuracy rows (the summary line above them says which run graded and which found the cache)
    tables = [[line for line in out.splitlines() if line.startswith(("majority", "genselect"))]
              for out, _ in outs]
    assert tables[0] == tables[1] and any("genselect" in line for line in tables[0])

    (grades,) = results.glob("pools/**/grades.*.jsonl")
    _, rows = read_records(grades, "grades")
    keys = Counter((r["problem_id"], r["index"]) for r in rows)
    assert len(keys) == 24 and max(keys.values()) == 1  # each candidate graded and stored once
    for path in results.glob("pools/**/candidates.jsonl"):
        read_records(path, "candidates")
    (cache,) = results.glob("judge/*.sqlite")
    db = sqlite3.connect(cache)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    total, distinct = db.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM calls").fetchone()
    assert total == distinct > 0
    records = [json.loads(p.read_text()) for p in results.glob("runs/*/run.json")]
    assert len(records) == 4  # two selectors x two runs, every record complete JSON
