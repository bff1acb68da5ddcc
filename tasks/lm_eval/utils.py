"""lm-evaluation-harness hooks (`!function utils.<name>`) for the harness_* tasks in this folder.

Use:  lm_eval --include_path <repo>/tasks/lm_eval --tasks harness_aime24,harness_aime25,harness_hmmt25
(or lm_eval.tasks.TaskManager(include_path=LM_EVAL_TASKS_DIR), see tasks/lm_eval/__init__.py).
Written against lm-eval 0.4.13.

Docs, offline: each task's `custom_dataset: !function utils.load_<task>` builds the docs from the
harness's own task (harness.plugins.load_task), read from its local copy
<data_dir>/<subdir>/problems.jsonl (a bad line is an error naming file and line), where
<data_dir> is, first found: dataset_kwargs/metadata key `data_dir` (e.g.
`--metadata '{"data_dir": "/work/shared/data"}'` or TaskManager(metadata=...)), else
$HARNESS_DATA_DIR. Nothing is fetched from the Hugging Face hub. The prompt is the task's own.

Scoring: `repeats: k` makes lm-eval sample k generations per doc; the filter `take_first_k`
with k = repeats keeps all of them as a list (lm-eval's own `majority_vote` filter compares
raw strings and collapses the repeats to one response; that is not used). `process_results`
then grades the k texts with the harness's math grader and reports, per doc:
  pass@1   mean correctness of the k samples (= unbiased pass@1),
  pass@k   unbiased pass@k (harness.estimators.pass_at_k with n = k),
  maj@k    the harness's majority selector on the k samples: answer clusters by mathematical
           equivalence (harness.grading.math_answers.cluster_answers) and the selector's own
           vote (harness.selectors.voting.cluster_vote_weights): samples with no extracted
           answer never vote, tied winning clusters score the mean correctness of the tied
           answers, and when no sample has an answer the selector abstains: 0.
lm-eval averages each over docs (aggregation: mean).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

TASKS = ("aime24", "aime25", "hmmt25")  # the harness tasks these hooks serve
DATA_DIR_ENV = "HARNESS_DATA_DIR"


# -- docs -----------------------------------------------------------------------------------------
def _data_dir(kwargs: dict[str, Any]) -> Path:
    from harness.errors import ConfigError

    where = kwargs.get("data_dir") or os.environ.get(DATA_DIR_ENV)
    if not where:
        raise ConfigError(f"harness lm-eval tasks read local problems: set ${DATA_DIR_ENV} or pass "
                          "--metadata '{\"data_dir\": \"/path/to/data\"}'")
    return Path(where)


def read_problems(source: str, data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """The docs of one task: {"id", "problem", "answer", "integer", "prompt"} per problem, file order."""
    from harness.errors import DataError, MissingFileError
    from harness.plugins import load_task
    from harness.settings import Settings
    from tasks.math_tasks import SOURCES

    if source not in TASKS:
        raise DataError(f"no harness lm-eval task for {source!r}; these hooks serve {', '.join(TASKS)}")
    root = _data_dir({"data_dir": data_dir})
    spec = SOURCES[source]
    path = root / spec.local_subdir / "problems.jsonl"
    if not path.is_file():  # checked here so that the task never falls back to the hub
        raise MissingFileError(f"no local problems for {source}: {path} is missing")
    task = load_task(source, Settings(results_dir=Path("results"), data_dir=root))
    references = task.references()
    return [{"id": p.id, "problem": p.statement, "answer": str(references[p.id].answer),
             "integer": spec.integer_answers, "prompt": task.prompt(p)} for p in task.problems()]


def _dataset(source: str, kwargs: dict[str, Any]):
    import datasets

    docs = read_problems(source, _data_dir(kwargs))
    return {"test": datasets.Dataset.from_list(docs)}


def load_aime24(**kwargs):
    return _dataset("aime24", kwargs)


def load_aime25(**kwargs):
    return _dataset("aime25", kwargs)


def load_hmmt25(**kwargs):
    return _dataset("hmmt25", kwargs)


def doc_to_text(doc: dict[str, Any]) -> str:
    return doc["prompt"]


# -- scoring --------------------------------------------------------------------------------------
def majority_credit(clusters: Sequence[int | None], correct: Sequence[bool]) -> float:
    """Expected correctness of the harness's majority selector over these samples (all shown).

    The same vote as `--selector majority`: the most frequent cluster wins, tied clusters share
    the credit, samples without an answer (None) never vote, and with no answer at all the
    selector abstains and the problem scores 0.
    """
    import numpy as np

    from harness.selectors.voting import cluster_vote_weights

    if not len(clusters):
        return 0.0
    ids = np.array([[-1 if c is None else int(c) for c in clusters]], dtype=np.int64)
    weights = cluster_vote_weights(ids)[0]  # all zeros = abstain
    return float(np.dot(weights, np.asarray(correct, dtype=float)))


def score_texts(texts: Sequence[str], gold: str, *, integer: bool) -> dict[str, float]:
    """pass@1, pass@k and maj@k (k = len(texts)) of one problem's k samples."""
    from harness.estimators import pass_at_k
    from harness.grading.math_answers import cluster_answers, extract_answer, grade_answer

    k = len(texts)
    answers = [extract_answer(t).answer for t in texts]
    clusters = cluster_answers(answers, integer=integer)
    cache: dict = {}
    by_answer: dict[str | None, bool] = {}
    correct = []
    for answer in answers:
        if answer not in by_answer:
            by_answer[answer] = bool(grade_answer(answer, gold, integer=integer, parsed_cache=cache).correct)
        correct.append(by_answer[answer])
    c = sum(correct)
    return {"pass@1": c / k, f"pass@{k}": pass_at_k(k, c, k), f"maj@{k}": majority_credit(clusters, correct)}


def process_results(doc: dict[str, Any], results: list[Any]) -> dict[str, float]:
    """lm-eval hook: results = [filtered resps of the doc's one request] = [[text_1, ..., text_k]]."""
    texts: list[str] = []
    for item in results:
        texts.extend([item] if isinstance(item, str) else list(item))
    return score_texts(texts, str(doc["answer"]), integer=bool(doc.get("integer", False)))
