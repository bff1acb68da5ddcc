"""lm-evaluation-harness interop: our tasks run in lm-eval's evaluator, LMEvalBackend generates
through lm-eval models, and --log_samples files import as pools.

Needs lm-eval (module skipped otherwise) and HARNESS_DATA_DIR (the model tests skip without it).
Generations are 16 tokens of SmolLM2-135M on CPU.
"""

from __future__ import annotations

import json
import os

import pytest

lm_eval = pytest.importorskip("lm_eval")

from tasks.lm_eval import LM_EVAL_TASKS_DIR  # noqa: E402
from tasks.lm_eval import utils as task_utils  # noqa: E402

DATA = os.environ.get("HARNESS_DATA_DIR")
needs_data = pytest.mark.skipif(not DATA, reason="HARNESS_DATA_DIR is not set")
TASKS_DIR = LM_EVAL_TASKS_DIR
K, LIMIT, MAX_TOKENS = 4, 3, 16


# -- scoring, no model -------------------------------------------------------------------------
def test_scoring_clusters_by_equivalence_and_shares_ties():
    texts = ["so \\boxed{\\frac{1}{2}}", "\\boxed{0.5}", "\\boxed{3}", "it is \\boxed{3}"]
    scores = task_utils.process_results({"answer": "1/2", "integer": False}, [texts])
    # {1/2, 0.5} and {3, 3} tie 2-2: mean correctness of the tied answers = (1 + 0) / 2
    assert scores == {"pass@1": 0.5, "pass@4": 1.0, "maj@4": 0.5}
    three = task_utils.score_texts(["\\boxed{0.5}", "\\boxed{1/2}", "\\boxed{3}"], "1/2", integer=False)
    assert three["maj@3"] == 1.0 and three["pass@1"] == pytest.approx(2 / 3)
    none = task_utils.score_texts(["no answer", "\\boxed{025}"], "25", integer=True)
    assert none == {"pass@1": 0.5, "pass@2": 1.0, "maj@2": 1.0}  # no-answer samples never vote
    assert task_utils.majority_credit([None, None], [False, False]) == 0.0


def test_majority_is_the_harness_majority_selector():
    """maj@k is `--selector majority` on the k samples (ties shared, no-answer samples never vote,
    nothing answered = abstain = 0), checked against the selector itself on random clusters."""
    import numpy as np

    from harness.selectors.base import ProblemPool
    from harness.selectors.voting import Majority
    from harness.types import Problem

    rng = np.random.default_rng(0)
    for _ in range(200):
        k = int(rng.integers(1, 9))
        clusters = [None if rng.random() < 0.3 else int(rng.integers(0, 3)) for _ in range(k)]
        correct = [bool(rng.random() < 0.5) for _ in range(k)]
        ids = np.array([-1 if c is None else c for c in clusters], dtype=np.int64)
        pool = ProblemPool(problem=Problem("p", "t", "", {}), clusters=ids)
        weights = Majority().choose(pool, np.arange(k)[None, :])[0]
        expected = float(weights @ np.array(correct, dtype=float))
        assert task_utils.majority_credit(clusters, correct) == pytest.approx(expected)
    assert task_utils.majority_credit([None, None, None], [True, True, True]) == 0.0  # abstains


def test_problems_come_from_the_harness_task_and_bad_lines_name_file_and_line(tmp_path):
    from harness.errors import DataError

    (tmp_path / "aime24").mkdir()
    good = {"id": "aime24-x-01", "problem": "What is 1 + 1?", "answer": "2"}
    (tmp_path / "aime24" / "problems.jsonl").write_text(json.dumps(good) + "\n{not json\n")
    with pytest.raises(DataError, match=r"problems\.jsonl:2"):
        task_utils.read_problems("aime24", tmp_path)
    (tmp_path / "aime24" / "problems.jsonl").write_text(json.dumps(good) + "\n")
    (doc,) = task_utils.read_problems("aime24", tmp_path)
    assert doc["id"] == "aime24-x-01" and doc["integer"] and "\\boxed{}" in task_utils.doc_to_text(doc)
    with pytest.raises(FileNotFoundError, match="hmmt_feb25"):  # never falls back to the hub
        task_utils.read_problems("hmmt25", tmp_path)


def test_tasks_load_offline_with_repeats():
    from lm_eval.tasks import TaskManager, get_task_dict

    if not DATA:
        pytest.skip("HARNESS_DATA_DIR is not set")
    manager = TaskManager(include_path=str(TASKS_DIR), include_defaults=False)
    tasks = get_task_dict(["harness_aime24", "harness_aime25", "harness_hmmt25"], manager)
    for name, source in [("harness_aime24", "aime24"), ("harness_aime25", "aime25"),
                         ("harness_hmmt25", "hmmt25")]:
        task = tasks[name]
        docs = list(task.test_docs())
        assert [d["id"] for d in docs] == [d["id"] for d in task_utils.read_problems(source, DATA)]
        assert task.config.repeats == K and "\\boxed{}" in task.doc_to_text(docs[0])


# -- lm-eval's own evaluator -------------------------------------------------------------------
@pytest.fixture(scope="module")
def evaluated():
    if not DATA:
        pytest.skip("HARNESS_DATA_DIR is not set")
    import torch
    from lm_eval.tasks import TaskManager

    from harness.models import materialize

    torch.set_num_threads(1)  # the CI cores are shared
    manager = TaskManager(include_path=str(TASKS_DIR), include_defaults=False,
                          metadata={"data_dir": DATA})
    return lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={materialize('smollm2-135m')},dtype=float32,device=cpu",
        tasks=["harness_aime24"], limit=LIMIT, task_manager=manager, log_samples=True,
        gen_kwargs={"max_gen_toks": MAX_TOKENS}, bootstrap_iters=0)


@needs_data
def test_simple_evaluate_metrics_match_the_harness(evaluated):
    from harness.estimators import pass_at_k
    from harness.grading.math_answers import cluster_answers, extract_answer, grade_answer

    samples = evaluated["samples"]["harness_aime24"]
    assert len(samples) == LIMIT
    maj, pass1, passk = [], [], []
    for sample in samples:
        (texts,) = sample["resps"]  # one request, its K repeats
        assert len(texts) == K and sample["filtered_resps"] == [texts]  # the filter kept all K
        answers = [extract_answer(t).answer for t in texts]
        correct = [bool(grade_answer(a, sample["doc"]["answer"], integer=True).correct) for a in answers]
        clusters = cluster_answers(answers, integer=True)
        sizes = {c: clusters.count(c) for c in set(clusters) if c is not None}
        if sizes:
            top = max(sizes.values())
            winners = [c for c, n in sizes.items() if n == top]
            maj.append(sum(sum(ok for ok, c in zip(correct, clusters) if c == w) / sizes[w]
                           for w in winners) / len(winners))
        else:
            maj.append(0.0)
        pass1.append(sum(correct) / K)
        passk.append(pass_at_k(K, sum(correct), K))
        assert sample[f"maj@{K}"] == pytest.approx(maj[-1]) and sample["pass@1"] == pytest.approx(pass1[-1])
    reported = evaluated["results"]["harness_aime24"]
    assert reported[f"maj@{K},all_repeats"] == pytest.approx(sum(maj) / LIMIT)
    assert reported["pass@1,all_repeats"] == pytest.approx(sum(pass1) / LIMIT)
    assert reported[f"pass@{K},all_repeats"] == pytest.approx(sum(passk) / LIMIT)


@needs_data
def test_logged_samples_import_as_pools(evaluated, tmp_path):
    import copy

    from lm_eval.loggers import EvaluationTracker

    from harness.pool_import import import_pool
    from harness.pools import PoolStore
    from harness.settings import Settings
    from tasks.math_tasks import make_math_task

    results = copy.deepcopy(evaluated)
    samples = results.pop("samples")
    expected = {s["doc"]["id"]: s["resps"][0] for s in samples["harness_aime24"]}
    # what `lm_eval --output_path OUT --log_samples` does after simple_evaluate (lm_eval/_cli/run.py)
    tracker = EvaluationTracker(output_path=str(tmp_path / "lm_eval_out"))
    tracker.save_results_aggregated(results=results, samples=samples)
    tracker.save_results_samples(task_name="harness_aime24", samples=samples["harness_aime24"])
    (path,) = (tmp_path / "lm_eval_out").rglob("samples_harness_aime24_*.jsonl")
    assert {json.loads(line)["doc"]["id"] for line in path.read_text().splitlines()} == set(expected)

    task = make_math_task("aime24")(Settings.resolve(data_dir=DATA, results_dir=tmp_path / "results"))
    store = PoolStore(tmp_path / "pools")
    report = import_pool(store, task, [path], "lm-eval", model="smollm2-135m")
    assert report.written == LIMIT * K and len(report.pools) == 1
    pool = store.resolve(report.pools[0]).candidates()
    assert set(pool) == set(expected)
    for pid, texts in expected.items():
        assert [c.index for c in pool[pid]] == list(range(K))
        assert [c.text for c in pool[pid]] == texts


# -- LMEvalBackend -----------------------------------------------------------------------------
@needs_data
def test_lm_eval_backend_seeds_make_samples_differ_and_repeat():
    import torch

    from harness.backends.base import GenRequest, SamplingParams
    from harness.backends.lm_eval_backend import LMEvalBackend

    torch.set_num_threads(1)
    backend = LMEvalBackend("smollm2-135m", model_type="hf", model_args="dtype=float32,device=cpu")
    params = SamplingParams(temperature=1.0, top_p=0.95, max_tokens=MAX_TOKENS)
    requests = [GenRequest(seed=100 + i, params=params, tag=i,
                           messages=(("user", "Name a colour and explain why you like it."),))
                for i in range(K)]
    first = backend.generate(requests)
    again = backend.generate(list(reversed(requests)))[::-1]  # order does not matter, seeds do
    texts = [r.text for r in first]
    assert len(first) == K and len(set(texts)) > 1
    assert [r.text for r in again] == texts
    assert all(r.completion_tokens is not None and r.completion_tokens <= MAX_TOKENS + 1 for r in first)
    backend.close()


def test_generate_pool_through_lm_eval_backend(tmp_path):
    """`python -m harness generate --backend lm-eval:hf`: repeated samples differ (one seed each)."""
    import subprocess
    import sys

    env = {**os.environ, "HARNESS_RESULTS_DIR": str(tmp_path / "results")}
    proc = subprocess.run([sys.executable, "-m", "harness", "generate", "--task", "arith:level=add1,n=2",
                           "--model", "smollm2-135m", "--backend", "lm-eval:hf", "--samples", "3",
                           "--max-tokens", "12", "--temperature", "1.0", "--quiet"],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (path,) = (tmp_path / "results" / "pools").rglob("candidates.jsonl")
    spec = json.loads((path.parent / "spec.json").read_text())
    assert spec["spec"]["backend"] == "lm-eval:hf"
    rows = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    assert len(rows) == 6 and len({r["seed"] for r in rows}) == 6
    by_problem: dict[str, set[str]] = {}
    for row in rows:
        by_problem.setdefault(row["problem_id"], set()).add(row["text"])
    assert any(len(texts) > 1 for texts in by_problem.values())
