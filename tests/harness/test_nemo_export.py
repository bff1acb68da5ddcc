"""Round trip: a paper-protocol run, exported as NeMo-Skills files, re-summarised by NeMo-Skills' rules.

The reader below follows NeMo-Skills' math metrics as its source states them (read, not copied):
files `output-rs*.jsonl`, line i of every file is problem i; `pass@1[avg-of-k]` is the mean of
`symbolic_correct` over the k files; `majority@k` votes over the exact `predicted_answer`
strings of the first k files with no-answer lines dropped (score 0 when none is left) and ties
scored as the mean correctness of the tied answers; `pass@k` is the unbiased estimator over all
files. With NEMO_SKILLS_DIR pointing at a NeMo-Skills checkout, the same files are also summarised
by its own code.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from harness.config import RunConfig
from harness.exports.nemo_skills import export_nemo_skills
from harness.plugins import load_task
from harness.pool_import import import_pool
from harness.pools import PoolStore
from harness.run import run
from harness.settings import Settings

DATA = os.environ.get("HARNESS_DATA_DIR")


def nemo_rules(folder: Path) -> dict[str, float]:
    files = sorted(folder.glob("output-rs*.jsonl"))
    runs = [[json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
            for f in files]
    k = len(runs)
    avg = majority = pass_k = 0.0
    for lines in zip(*runs):
        scores = [bool(line["symbolic_correct"]) for line in lines]
        avg += sum(scores) / k
        c = sum(scores)
        pass_k += 1.0 - (math.comb(k - c, k) / math.comb(k, k) if k - c >= k else 0.0)
        votes = Counter((line["predicted_answer"], bool(line["symbolic_correct"])) for line in lines
                        if line["predicted_answer"] is not None)
        if votes:
            top = max(votes.values())
            tied = [score for (_, score), count in votes.items() if count == top]
            majority += sum(tied) / len(tied)
    n = len(runs[0])
    return {f"pass@1[avg-of-{k}]": avg / n, f"majority@{k}": majority / n, f"pass@{k}": pass_k / n}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    if not DATA:
        pytest.skip("HARNESS_DATA_DIR is not set")
    root = tmp_path_factory.mktemp("nemo")
    settings = Settings(results_dir=root / "results", data_dir=Path(DATA))
    task = load_task("math_cot_100", settings)
    import_pool(PoolStore(settings.pools_dir), task,
                [Path(DATA) / "pools" / "math_cot_100" / "qwen2.5-math-instruct.jsonl"], "auto",
                label="qwen2.5-math-instruct")
    config = RunConfig(task="math_cot_100", pool="qwen2.5-math-instruct",
                       selectors=("first", "majority", "oracle"), paper=True, ns=(8,), progress=False,
                       resamples=200)
    outcome = run(config, settings, log=lambda m: None)
    by = {r.selector: r for r in outcome.records}
    export = export_nemo_skills(by["majority"], settings, root / "eval-results" / "math_cot_100")
    return by, export


def test_nemo_skills_files_reproduce_the_runs_numbers(exported):
    by, export = exported
    assert [f.name for f in export.files] == [f"output-rs{j}.jsonl" for j in range(8)]
    assert by["majority"].info.protocol == "nemo-skills"
    metrics = nemo_rules(export.folder)
    assert metrics["pass@1[avg-of-8]"] == pytest.approx(by["first"].summary[0].accuracy, abs=1e-12)
    assert metrics["majority@8"] == pytest.approx(by["majority"].summary[0].accuracy, abs=1e-12)
    assert metrics["pass@8"] == pytest.approx(by["oracle"].summary[0].accuracy, abs=1e-12)
    line = json.loads(export.files[0].read_text().splitlines()[0])
    assert {"generation", "predicted_answer", "symbolic_correct", "expected_answer"} <= set(line)


def test_export_command_writes_the_same_files(exported, tmp_path):
    by, export = exported
    from harness.cli import main

    out = tmp_path / "cli"
    assert main(["export", "--format", "nemo-skills", "--run", by["majority"].run_id, "--out", str(out),
                 "--results-dir", str(by["majority"].path.parent.parent), "--data-dir", DATA]) == 0
    assert [f.read_text() for f in sorted(out.glob("*.jsonl"))] == [f.read_text() for f in export.files]


def test_subsets_runs_are_refused(exported, tmp_path):
    from harness.errors import ConfigError

    by, _ = exported
    record = by["majority"]
    subsets = type(record)(record.path, record.info.model_copy(update={"mode": "subsets"}))
    with pytest.raises(ConfigError, match="--paper"):
        export_nemo_skills(subsets, Settings(results_dir=tmp_path), tmp_path / "out")


# NeMo-Skills' MathMetrics, imported from a checkout without running its package __init__ files
# (they pull in its cluster pipeline: nemo_run, leptonai, ...); only numpy is needed.
NEMO_DRIVER = """
import glob, json, logging, sys, types
root = sys.argv[1]
for name in ("nemo_skills", "nemo_skills.evaluation", "nemo_skills.evaluation.metrics"):
    module = types.ModuleType(name)
    module.__path__ = [root + "/" + name.replace(".", "/")]
    sys.modules[name] = module
utils = types.ModuleType("nemo_skills.utils")
utils.get_logger_name = lambda file: "nemo"
sys.modules["nemo_skills.utils"] = utils
from nemo_skills.evaluation.metrics.math_metrics import MathMetrics
metrics = MathMetrics()
metrics.reset()
files = sorted(glob.glob(sys.argv[2] + "/output-rs*.jsonl"))
handles = [open(f, encoding="utf-8") for f in files]
for lines in zip(*handles):
    metrics.update([json.loads(line) for line in lines])
print(json.dumps(metrics.get_metrics()))
"""


@pytest.mark.skipif(not os.environ.get("NEMO_SKILLS_DIR"),
                    reason="NEMO_SKILLS_DIR (a NeMo-Skills checkout) not set")
def test_nemo_skills_own_summariser_agrees(exported):
    """NeMo-Skills' own MathMetrics on the exported files gives the run's numbers."""
    by, export = exported
    proc = subprocess.run([os.environ.get("NEMO_SKILLS_PYTHON", sys.executable), "-c", NEMO_DRIVER,
                           os.environ["NEMO_SKILLS_DIR"], str(export.folder)], capture_output=True, text=True,
                          check=True)
    metrics = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (metrics["pass@1[avg-of-8]"]["symbolic_correct"]
            == pytest.approx(100 * by["first"].summary[0].accuracy))
    assert (metrics["majority@8"]["symbolic_correct"]
            == pytest.approx(100 * by["majority"].summary[0].accuracy))
    assert metrics["pass@8"]["symbolic_correct"] == pytest.approx(100 * by["oracle"].summary[0].accuracy)


def test_genselect_run_exports_its_choices_as_nemo_runs(exported, tmp_path):
    """A judge selector's paper run becomes genselect/output-rs<r>.jsonl: the chosen solution per
    problem and selection run, whose mean correctness is the run's GenSelect accuracy."""
    from fakes import ScriptedBackend

    by, _ = exported
    results = by["majority"].path.parent.parent
    settings = Settings(results_dir=results, data_dir=Path(DATA))
    judge = ScriptedBackend(lambda request: "The last one.\nJudgment: 7")
    config = RunConfig(task="math_cot_100", pool="qwen2.5-math-instruct", selectors=("genselect",),
                       judge_model="smollm2-135m", paper=True, ns=(8,), progress=False, resamples=200)
    record = run(config, settings, log=lambda m: None, judge_factory=lambda: judge).records[0]
    assert judge.calls == 100 * 8  # the nemo-skills protocol never skips the judge
    export = export_nemo_skills(record, settings, tmp_path / "gs")
    assert [f.name for f in export.genselect_files] == [f"output-rs{r}.jsonl" for r in range(8)]
    metrics = nemo_rules(export.folder / "genselect")
    assert metrics["pass@1[avg-of-8]"] == pytest.approx(record.summary[0].accuracy, abs=1e-12)
    line = json.loads(export.genselect_files[0].read_text().splitlines()[0])
    assert 0 <= line["genselect_choice"] < 8 and line["genselect_successful"] is True
    assert line["genselect_comparison"].endswith("Judgment: 7")
