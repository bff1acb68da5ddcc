"""import_pool: harness-jsonl (real shared/data pools), nemo-skills and lm-eval (synthetic files
in the real formats), growing pools, malformed input and format detection.

Real-data tests read HARNESS_DATA_DIR and skip when it is unset.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.jsonl import JsonlFormatError
from harness.pool_import import ImportFormatError, detect_format, import_pool
from harness.pools import PoolStore
from harness.types import Problem

DATA = os.environ.get("HARNESS_DATA_DIR")
needs_data = pytest.mark.skipif(not DATA, reason="HARNESS_DATA_DIR is not set")


def load_task(name: str, tmp_path: Path):
    from harness.settings import Settings
    from tasks.math_tasks import make_math_task

    return make_math_task(name)(Settings.resolve(data_dir=DATA, results_dir=tmp_path / "results"))


@dataclass
class TinyTask:
    """Two problems, for tests that need no data."""

    name: str = "tiny"

    def problems(self) -> list[Problem]:
        return [Problem(id="tiny-0", task=self.name, statement="What is 1+1?"),
                Problem(id="tiny-1", task=self.name, statement="What is 2+2?")]


def write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def pool_of(store: PoolStore, report, i: int = 0):
    return store.resolve(report.pools[i])


# -- harness-jsonl on the real pools -----------------------------------------------------------
@needs_data
def test_math_cot_100_single_model_pool(tmp_path):
    task = load_task("math_cot_100", tmp_path)
    store = PoolStore(tmp_path / "pools")
    src = Path(DATA) / "pools" / "math_cot_100" / "qwen2.5-math-instruct.jsonl"
    report = import_pool(store, task, [src])
    assert len(report.pools) == 1 and report.written == 800
    assert report.unmatched_problems == () and report.task_problems_missing == 0
    pool = pool_of(store, report)
    cands = pool.candidates()
    assert len(cands) == 100 and {len(v) for v in cands.values()} == {8}
    assert all(isinstance(c.scores.get("rm"), float) for v in cands.values() for c in v)
    first = cands["math_cot_100-000"]
    assert [c.index for c in first] == list(range(8))
    assert first[0].metadata["source_extracted_answer"] == "420"
    assert pool.spec.backend == "import" and pool.spec.source == "harness-jsonl"
    again = import_pool(store, task, [src])
    assert again.written == 0 and again.skipped_existing == 800 and again.pools == report.pools


@needs_data
def test_math_l5_cross_model_and_split(tmp_path):
    task = load_task("math_l5", tmp_path)
    store = PoolStore(tmp_path / "pools")
    files = sorted((Path(DATA) / "pools" / "math_l5").glob("*.jsonl"))
    assert len(files) == 12
    report = import_pool(store, task, files, fmt="harness-jsonl")
    assert len(report.pools) == 1 and report.written == 360 * 12
    pool = pool_of(store, report)
    assert pool.label == "cross-model" and pool.spec.model.startswith("cross-model:")
    models = pool.spec.model[len("cross-model:"):].split("+")
    assert models == sorted(models) and len(models) == 12
    cands = pool.candidates()
    assert len(cands) == 360
    for pid, cs in cands.items():
        assert [c.index for c in cs] == list(range(12))
        assert [c.metadata["model"] for c in cs] == models  # deterministic (model, sample_index) order
    assert import_pool(store, task, files).written == 0  # auto-detected, same pool, nothing new

    split = import_pool(store, task, files, split_by_model=True)
    assert len(split.pools) == 12 and split.written == 360 * 12
    for ref in split.pools:
        p = store.resolve(ref)
        sizes = p.size()
        assert len(sizes) == 360 and set(sizes.values()) == {1}
        assert p.label == p.spec.model and p.spec.model in models


@needs_data
def test_growing_harness_jsonl_appends_only_new(tmp_path):
    task = load_task("math_cot_100", tmp_path)
    store = PoolStore(tmp_path / "pools")
    src = Path(DATA) / "pools" / "math_cot_100" / "qwen2.5-math-instruct.jsonl"
    rows = [json.loads(line) for line in src.read_text(encoding="utf-8").splitlines()]
    half = write_jsonl(tmp_path / "in" / "first4.jsonl", [r for r in rows if r["sample_index"] < 4])
    first = import_pool(store, task, [half])
    assert first.written == 400
    second = import_pool(store, task, [src])
    assert second.written == 400 and second.skipped_existing == 400 and second.pools == first.pools
    cands = pool_of(store, second).candidates()
    assert {len(v) for v in cands.values()} == {8}
    by_key = {(r["problem_id"], r["sample_index"]): r["response"] for r in rows}
    assert all(c.text == by_key[(c.problem_id, c.index)] for v in cands.values() for c in v)


# -- nemo-skills -------------------------------------------------------------------------------
def nemo_rows(problems, seed: int, extra_unknown: bool = True):
    rows = []
    for i, p in enumerate(problems):
        rows.append({"problem": "  " + p.statement.replace(" ", "\n ", 1) + " ",  # whitespace differs
                     "expected_answer": "GOLD", "generation": f"seed {seed} solves {p.id} \\boxed{{{i}}}",
                     "predicted_answer": str(i), "symbolic_correct": seed % 2 == 0,
                     "num_generated_tokens": 100 + seed, "generation_time": 1.5})
    if extra_unknown:
        rows.append({"problem": "A problem that is not in the task at all.", "expected_answer": "1",
                     "generation": "x", "predicted_answer": "1", "symbolic_correct": True,
                     "num_generated_tokens": 3})
    return rows


@needs_data
def test_nemo_skills_seeds_and_growing(tmp_path):
    task = load_task("math_l5", tmp_path)
    problems = task.problems()[:5]
    store = PoolStore(tmp_path / "pools")
    out = tmp_path / "nemo"
    for seed in range(4):
        write_jsonl(out / f"output-rs{seed}.jsonl", nemo_rows(problems, seed))
    report = import_pool(store, task, [out], fmt="nemo-skills", model="my-model")
    assert report.written == 20 and len(report.unmatched_problems) == 1
    assert report.unmatched_problems[0].startswith("text:A problem that is not")
    assert report.task_problems_missing == len(task.problems()) - 5
    assert "not in the task" in report.describe()
    pool = pool_of(store, report)
    assert pool.spec.model == "my-model" and pool.spec.source == "nemo-skills"
    cands = pool.candidates()
    assert set(cands) == {p.id for p in problems}
    for pid, cs in cands.items():
        assert [c.index for c in cs] == [0, 1, 2, 3] and [c.seed for c in cs] == [0, 1, 2, 3]
        assert all(c.completion_tokens == 100 + c.seed for c in cs)
        assert all(c.text.startswith(f"seed {c.seed} solves {pid}") for c in cs)
        assert all("GOLD" not in json.dumps(c.to_json()) for c in cs)  # the gold answer stays out
        assert cs[0].metadata["source_is_correct"] is True and cs[1].metadata["source_is_correct"] is False

    for seed in range(4, 8):
        write_jsonl(out / f"output-rs{seed}.jsonl", nemo_rows(problems, seed))
    grown = import_pool(store, task, [out], model="my-model")  # auto-detected; same spec, same pool
    assert grown.pools == report.pools and grown.written == 20 and grown.skipped_existing == 20
    cands = pool_of(store, grown).candidates()
    assert all([c.seed for c in cs] == list(range(8)) == [c.index for c in cs] for cs in cands.values())


def test_nemo_skills_new_seed_files_alone_continue_numbering(tmp_path):
    task = TinyTask()
    store = PoolStore(tmp_path / "pools")
    problems = task.problems()
    for seed in (0, 1):
        write_jsonl(tmp_path / "a" / f"output-rs{seed}.jsonl", nemo_rows(problems, seed, extra_unknown=False))
    rows = nemo_rows(problems, 7, extra_unknown=False)
    rows[1] = {}  # NeMo-Skills writes "{}" for a generation that never finished
    write_jsonl(tmp_path / "b" / "output-rs7.jsonl", rows)
    assert import_pool(store, task, [tmp_path / "a"]).written == 4
    report = import_pool(store, task, [tmp_path / "b"])  # only the new seed: indices go after 0, 1
    assert report.written == 1
    cands = pool_of(store, report).candidates()
    assert [(c.index, c.seed) for c in cands["tiny-0"]] == [(0, 0), (1, 1), (2, 7)]
    assert [(c.index, c.seed) for c in cands["tiny-1"]] == [(0, 0), (1, 1)]


# -- lm-eval -----------------------------------------------------------------------------------
@needs_data
def test_lm_eval_samples_both_nestings(tmp_path):
    task = load_task("aime24", tmp_path)
    problems = task.problems()[:3]
    store = PoolStore(tmp_path / "pools")
    rows = []
    for doc_id, p in enumerate(problems):
        gens = [f"doc {doc_id} repeat {k}: {p.id}" for k in range(4)]
        resps = [gens] if doc_id != 1 else [[g] for g in gens]  # [[g1..g4]] and [[g1],[g2],...]
        doc = {"id": 60 + doc_id, "problem": p.statement, "answer": "x", "url": "u"}  # hub-style int id
        rows.append({"doc_id": doc_id, "doc": doc, "target": "x", "arguments": {"gen_args_0": {}},
                     "resps": resps, "filtered_resps": ["only-majority"], "filter": "maj@4",
                     "metrics": ["exact_match"], "exact_match": 1.0})
    rows.append({**rows[0], "filter": "first", "filtered_resps": ["other"]})  # same doc, 2nd filter
    rows.append({"doc_id": 9, "doc": {"question": "Not an AIME problem."}, "resps": [["z"]]})
    src = write_jsonl(tmp_path / "lm" / "samples_aime24_2025-01-01T00-00-00.jsonl", rows)
    report = import_pool(store, task, [src], model="org/model-7b")
    assert report.written == 12 and report.unmatched_problems == ("text:Not an AIME problem.",)
    pool = pool_of(store, report)
    assert pool.spec.source == "lm-eval" and pool.spec.model == "org/model-7b"
    cands = pool.candidates()
    assert set(cands) == {p.id for p in problems}
    for doc_id, p in enumerate(problems):
        assert [c.text for c in cands[p.id]] == [f"doc {doc_id} repeat {k}: {p.id}" for k in range(4)]
        assert [c.index for c in cands[p.id]] == [0, 1, 2, 3]
    assert import_pool(store, task, [src], model="org/model-7b").written == 0

    bad = write_jsonl(tmp_path / "lm2" / "samples_x.jsonl",
                      [{"doc_id": 0, "doc": {"problem": problems[0].statement}, "resps": [[[-1.5, False]]]}])
    with pytest.raises(JsonlFormatError, match=r"samples_x\.jsonl:1: field 'resps'"):
        import_pool(store, task, [bad])


# -- malformed input ---------------------------------------------------------------------------
def good_row(pid="tiny-0", k=0):
    return {"problem_id": pid, "model": "m", "sample_index": k, "response": f"answer {k}"}


def test_malformed_lines_name_file_line_and_field(tmp_path):
    store = PoolStore(tmp_path / "pools")
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(good_row(k=0)) + "\n" + json.dumps(good_row(k=1)) + "\n"
                    + json.dumps(good_row(k=2))[:25] + "\n" + json.dumps(good_row(k=3)) + "\n")
    with pytest.raises(JsonlFormatError, match=r"broken\.jsonl:3: not valid JSON"):
        import_pool(store, TinyTask(), [path], fmt="harness-jsonl")
    assert not (tmp_path / "pools").exists()  # validated before anything was written

    missing = write_jsonl(tmp_path / "missing.jsonl", [good_row(), {k: v for k, v in good_row(k=1).items()
                                                                    if k != "response"}])
    with pytest.raises(JsonlFormatError, match=r"missing\.jsonl:2: missing field 'response'"):
        import_pool(store, TinyTask(), [missing])
    wrong = write_jsonl(tmp_path / "wrong.jsonl", [{**good_row(), "sample_index": "0"}])
    with pytest.raises(JsonlFormatError, match=r"wrong\.jsonl:1: field 'sample_index' must be int"):
        import_pool(store, TinyTask(), [wrong])
    nemo = write_jsonl(tmp_path / "n" / "output-rs0.jsonl", [{"problem": "What is 1+1?", "generation": 2}])
    with pytest.raises(JsonlFormatError, match=r"output-rs0\.jsonl:1: field 'generation' must be str"):
        import_pool(store, TinyTask(), [nemo])
    latin1 = tmp_path / "n2" / "output-rs1.jsonl"
    latin1.parent.mkdir()
    latin1.write_bytes(b'{"problem": "What is 1+1?", "generation": "2"}\n'
                       b'{"problem": "caf\xe9", "generation": "x"}\n')
    with pytest.raises(JsonlFormatError, match=r"output-rs1\.jsonl:2: not valid UTF-8"):
        import_pool(store, TinyTask(), [latin1])


# -- format detection --------------------------------------------------------------------------
def test_auto_detection_per_file_and_unknown_shape(tmp_path):
    harness = write_jsonl(tmp_path / "pool.jsonl", [good_row("tiny-0", 0), good_row("tiny-1", 0),
                                                    good_row("tiny-9", 0)])
    nemo_named = write_jsonl(tmp_path / "nemo" / "output-rs3.jsonl", [{}, {"problem": "What is 2+2?",
                                                                           "generation": "4"}])
    nemo_fields = write_jsonl(tmp_path / "greedy" / "output.jsonl", [{"id": "tiny-0", "generation": "2"}])
    lm = write_jsonl(tmp_path / "lm" / "samples_t.jsonl", [{"doc_id": 0, "doc": {"question": "What is 1+1?"},
                                                            "resps": [["2", "3"]]}])
    assert detect_format(harness) == "harness-jsonl"
    assert detect_format(nemo_named) == "nemo-skills" and detect_format(nemo_fields) == "nemo-skills"
    assert detect_format(lm) == "lm-eval"

    store = PoolStore(tmp_path / "pools")
    report = import_pool(store, TinyTask(), [harness, nemo_named, nemo_fields, lm])
    assert len(report.pools) == 3 and report.written == 2 + 2 + 2
    assert report.unmatched_problems == ("tiny-9",) and report.task_problems_missing == 0
    nemo_pool = store.resolve([r for r in report.pools if "/nemo-skills/" in r][0]).candidates()
    assert [(c.index, c.seed, c.text) for c in nemo_pool["tiny-1"]] == [(0, 3, "4")]
    assert [(c.seed, c.metadata.get("source_file")) for c in nemo_pool["tiny-0"]] == [(None, "output.jsonl")]

    foreign = write_jsonl(tmp_path / "foreign.jsonl", [good_row("zzz-1", 0)])
    with pytest.raises(ImportFormatError, match=r"foreign\.jsonl is a problem of task tiny \(e\.g\. zzz-1\)"):
        import_pool(PoolStore(tmp_path / "other"), TinyTask(), [foreign])  # the wrong task: nothing matches
    assert not (tmp_path / "other").exists()

    odd = write_jsonl(tmp_path / "odd.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(ImportFormatError, match=r"odd\.jsonl: cannot tell the format"):
        import_pool(store, TinyTask(), [odd])
    with pytest.raises(ValueError, match="unknown import format"):
        import_pool(store, TinyTask(), [harness], fmt="csv")
    with pytest.raises(FileNotFoundError):
        import_pool(store, TinyTask(), [tmp_path / "nope.jsonl"])
