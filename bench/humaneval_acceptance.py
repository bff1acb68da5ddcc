"""Benchmark/acceptance (python bench/humaneval_acceptance.py [RESULTS_DIR]): import the CodeGen-16B
HumanEval pool (164 x 100), grade it in the sandbox through harness.run (selectors first, majority,
oracle), report pass@k and majority-by-behaviour@N."""
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

from harness.config import RunConfig
from harness.estimators import pass_at_k
from harness.grades import grades_file
from harness.jsonl import read_records
from harness.plugins import load_task
from harness.pool_import import import_pool
from harness.pools import PoolStore
from harness.run import run
from harness.settings import Settings

RESULTS = Path(sys.argv[1] if len(sys.argv) > 1 else "results")
DATA = Path(os.environ.get("HARNESS_DATA_DIR", "../shared/data"))

def main():
    settings = Settings.resolve(data_dir=DATA, results_dir=RESULTS)
    task = load_task("humaneval", settings)
    store = PoolStore(settings.pools_dir)
    t0 = time.time()
    report = import_pool(store, task, [DATA / "pools/humaneval/codegen-16b.jsonl"])
    t_import = time.time() - t0
    print(report.describe(), f"({t_import:.1f}s)", flush=True)
    ns = (1, 2, 3, 4, 5, 8, 10, 16, 20, 32, 50, 64, 100)
    cfg = RunConfig(task="humaneval", selectors=("first", "majority", "oracle"), pool=report.pools[0], ns=ns,
                    progress=True)
    t1 = time.time()
    outcome = run(cfg, settings)
    t_run = time.time() - t1
    pool = outcome.pool
    grader = task.grader()
    _, rows = read_records(grades_file(pool, grader), "grades")
    by = {}
    for r in rows:
        by.setdefault(r["problem_id"], {})[r["index"]] = r
    verdicts = Counter(r["verdict"] for r in rows)
    out = {"import_s": round(t_import, 1), "grade_and_run_s": round(t_run, 1),
           "grading": outcome.grading.to_json(), "programs": len(rows), "verdicts": dict(verdicts),
           "isolation": grader.isolation() if hasattr(grader, "isolation") else None}
    for k in (1, 10, 100):
        vals = [pass_at_k(len(v), sum(1 for x in v.values() if x["correct"]), k) for v in by.values()]
        out[f"pass@{k}"] = round(100 * sum(vals) / len(vals), 2)
    out["runs"] = {r["selector"]: {s["n"]: round(100 * s["accuracy"], 2) for s in r["summary"]}
                   for r in outcome.to_json()["runs"]}
    out["no_cluster"] = sum(1 for r in rows if r["cluster"] is None)
    print(json.dumps(out, indent=1))
    (Path(__file__).parent / "out").mkdir(exist_ok=True)
    (Path(__file__).parent / "out" / "humaneval_acceptance.json").write_text(json.dumps(out, indent=1))

if __name__ == "__main__":
    main()
