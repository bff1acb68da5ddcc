"""lm-evaluation-harness hooks (`!function utils.<name>`) for the harness_* tasks in this folder.

Use:  lm_eval --include_path <repo>/harness/lm_eval_tasks --tasks harness_aime24,harness_aime25,harness_hmmt25
(or lm_eval.tasks.TaskManager(include_path=...)). Written against lm-eval 0.4.13.

Docs, offline: each task's `custom_dataset: !function utils.load_<task>` builds the docs from the
harness's local copy <data_dir>/<subdir>/problems.jsonl (rows {"id", "problem", "answer", ...}),
where <data_dir> is, first found: dataset_kwargs/metadata key `data_dir` (e.g.
`--metadata '{"data_dir": "/work/shared/data"}'` or TaskManager(metadata=...)), else
$HARNESS_DATA_DIR. Nothing is fetched from the Hugging Face hub.

Scoring: `repeats: k` makes lm-eval sample k generations per doc; the filter `take_first_k`
with k = repeats keeps all of them as a list (lm-eval's own `majority_vote` filter compares
raw strings and collapses the repeats to one response; that is not used). `process_results`
then grades the k texts with the harness's math grader and reports, per doc:
  pass@1   mean correctness of the k samples (= unbiased pass@1),
  pass@k   unbiased pass@k (harness.estimators.pass_at_k with n = k),
  maj@k    majority vote over answer clusters by mathematical equivalence
           (harness.grading.math_answers.cluster_answers); samples with no extracted answer
           never vote; tied winning clusters score the mean correctness of the tied answers
           (the harness's Majority selector's "fractional" tie credit); 0 if nothing answered.
lm-eval averages each over docs (aggregation: mean).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

PROMPT = (
    "Solve the following math problem. Reason step by step, and put your final answer "
    "within \\boxed{{}}.\n\n{statement}"
)  # the same text as tasks.math_tasks.MATH_PROMPT_V1

# task subdir under the data dir, and whether answers are AIME-style integers
SOURCES = {"aime24": ("aime24", True), "aime25": ("aime25", True), "hmmt25": ("hmmt_feb25", False)}
DATA_DIR_ENV = "HARNESS_DATA_DIR"


# -- docs -----------------------------------------------------------------------------------------
def _data_dir(kwargs: dict[str, Any]) -> Path:
    where = kwargs.get("data_dir") or os.environ.get(DATA_DIR_ENV)
    if not where:
        raise ValueError(f"harness lm-eval tasks read local problems: set ${DATA_DIR_ENV} or pass "
                         "--metadata '{\"data_dir\": \"/path/to/data\"}'")
    return Path(where)


def read_problems(source: str, data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """The docs of one task: {"id", "problem", "answer", "integer"} per problem, file order."""
    subdir, integer = SOURCES[source]
    path = _data_dir({"data_dir": data_dir}) / subdir / "problems.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no local problems for {source}: {path} is missing")
    docs = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                docs.append({"id": str(row["id"]), "problem": row["problem"],
                             "answer": str(row["answer"]), "integer": integer})
    return docs


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
    return PROMPT.format(statement=doc["problem"])


# -- scoring --------------------------------------------------------------------------------------
def majority_credit(clusters: Sequence[int | None], correct: Sequence[bool]) -> float:
    """Expected correctness of 'the most frequent cluster wins', ties = mean of the tied answers."""
    members: dict[int, list[bool]] = {}
    for cluster, ok in zip(clusters, correct):
        if cluster is not None:
            members.setdefault(cluster, []).append(bool(ok))
    if not members:
        return 0.0
    top = max(len(v) for v in members.values())
    winners = [v for v in members.values() if len(v) == top]
    return sum(sum(v) / len(v) for v in winners) / len(winners)


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
