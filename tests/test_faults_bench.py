"""bench/faults.py --quick --check: kill -9 during generation, math grading, judging and pool
import, then the same command again, plus hostile math answers, a corrupted grades line, a judge
cache that is not a database and a sandbox worker killed mid-job. Every fault must be survived
without losing a complete record (training and two concurrent runs have tests of their own:
tests/trainers/test_train_resume.py, tests/harness/test_concurrency.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FAULTS = "generate,grading,judging,import,hostile-math,grades-line,judge-cache,sandbox-worker"


@pytest.mark.slow
def test_every_injected_fault_is_survived_without_losing_a_record(tmp_path):
    if not os.environ.get("HARNESS_DATA_DIR"):
        pytest.skip("math grading faults read the shared data's math_l5 pool (HARNESS_DATA_DIR)")
    out = tmp_path / "faults.json"
    proc = subprocess.run([sys.executable, "bench/faults.py", "--quick", "--check", "--only", FAULTS,
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=2400)
    rows = json.loads(out.read_text())["rows"]
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert len(rows) == len(FAULTS.split(",")) and all(r["survived"] for r in rows), rows
    assert all(not r["lines_lost"] for r in rows)
