"""Pools (append-only JSONL, kill safety, bad lines), grade cache, run store atomicity, leaderboard."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.grades import load_or_grade
from harness.jsonl import JsonlFormatError, read_records
from harness.leaderboard import leaderboard_rows, render_markdown
from harness.pools import PoolError, PoolStore
from harness.store import load_runs, write_run
from harness.types import Candidate, GenSpec, Grade, Problem, Reference

PROBLEMS = [Problem("p1", "toy", "1+1?"), Problem("p2", "toy", "2+2?")]


def make_pool(tmp_path):
    store = PoolStore(tmp_path / "pools")
    return store, store.create("toy", GenSpec(backend="import", model="Some/Model-1B"), PROBLEMS)


def test_append_is_idempotent_and_grows(tmp_path):
    store, pool = make_pool(tmp_path)
    first = [Candidate("p1", i, f"answer {i}") for i in range(3)]
    assert pool.append(first) == 3
    assert pool.append(first) == 0  # re-import writes nothing
    assert pool.append(first + [Candidate("p1", 3, "answer 3"), Candidate("p2", 0, "x")]) == 2
    assert pool.size() == {"p1": 4, "p2": 1}
    assert pool.path.parent.name == "some-model-1b"  # slug only in the file name
    assert store.resolve("some-model-1b").key == pool.key
    assert store.resolve(pool.key[:6]).key == pool.key
    with pytest.raises(PoolError, match="Known pools"):
        store.resolve("nope")


def test_killed_writer_loses_only_the_partial_line(tmp_path):
    _, pool = make_pool(tmp_path)
    pool.append([Candidate("p1", i, f"t{i}") for i in range(2)])
    with pool.candidates_path.open("a") as handle:  # what a SIGKILL mid-write leaves behind
        handle.write('{"problem_id": "p1", "index": 2, "te')
    assert pool.size() == {"p1": 2}
    assert pool.append([Candidate("p1", 2, "t2")]) == 1  # the resumed writer truncates the tail first
    _, rows = read_records(pool.candidates_path, "candidates")
    assert [r["index"] for r in rows] == [0, 1, 2]


def test_malformed_line_names_file_line_and_field(tmp_path):
    _, pool = make_pool(tmp_path)
    pool.append([Candidate("p1", 0, "ok")])
    with pool.candidates_path.open("a") as handle:
        handle.write(json.dumps({"problem_id": "p1", "index": "one", "text": "x"}) + "\n")
        handle.write(json.dumps({"problem_id": "p1", "index": 2, "text": "y"}) + "\n")
    with pytest.raises(JsonlFormatError, match=r"candidates.jsonl:3: field 'index' must be int"):
        pool.candidates()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"schema": 1, "kind": "candidates"}\n{"problem_id": "p1", "index": 0}\n{oops\n')
    with pytest.raises(JsonlFormatError, match=r"bad.jsonl:3: not valid JSON"):
        read_records(bad, "candidates")


def test_pool_task_mismatch_is_reported(tmp_path):
    _, pool = make_pool(tmp_path)
    pool.append([Candidate("p1", 0, "a"), Candidate("zz", 0, "b")])
    changed = [Problem("p1", "toy", "1+1 = ?"), Problem("p2", "toy", "2+2?")]
    match = pool.match(changed)
    assert match.only_in_pool == ("zz",) and match.only_in_task == ("p2",)
    assert match.changed_statement == ("p1",)
    assert "1 in the pool but not the task (zz)" in match.describe()


class CountingGrader:
    name, version = "toy-grader", "v1"

    def __init__(self):
        self.calls = 0

    def grade(self, problems, references, candidates, *, workers=0, progress=True):
        self.calls += 1
        out = {}
        for p in problems:
            out[p.id] = [Grade(p.id, c.index, "correct" if c.text == references[p.id].answer else "wrong",
                               c.text == references[p.id].answer, answer=c.text, cluster=0)
                         for c in candidates[p.id]]
        return out


def test_grade_cache_reuses_and_regrades_only_what_changed(tmp_path):
    _, pool = make_pool(tmp_path)
    pool.append([Candidate("p1", 0, "2"), Candidate("p1", 1, "3"), Candidate("p2", 0, "4")])
    refs = {"p1": Reference("p1", "2"), "p2": Reference("p2", "4")}
    grader = CountingGrader()
    grades, stats = load_or_grade(pool, grader, PROBLEMS, refs, pool.candidates(), progress=False)
    assert stats.graded == 3 and stats.cached == 0 and [g.correct for g in grades["p1"]] == [True, False]
    grades, stats = load_or_grade(pool, grader, PROBLEMS, refs, pool.candidates(), progress=False)
    assert stats.graded == 0 and stats.cached == 3 and grader.calls == 1
    # A corrected reference re-grades exactly that problem.
    refs["p2"] = Reference("p2", "5")
    grades, stats = load_or_grade(pool, grader, PROBLEMS, refs, pool.candidates(), progress=False)
    assert stats.graded == 1 and stats.cached == 2 and grades["p2"][0].correct is False
    # Growing the pool re-grades only the grown problem.
    pool.append([Candidate("p1", 2, "2")])
    _, stats = load_or_grade(pool, grader, PROBLEMS, refs, pool.candidates(), progress=False)
    assert stats.graded == 3 and stats.cached == 1


def _record(task="toy", version="1", selector="majority", created=1.0, acc=0.5, upper=False):
    from harness.records import NPoint, PoolInfo, RunData, SelectorInfo, TaskInfo
    from harness.types import GenSpec

    def point(n, a):
        return NPoint(n=n, accuracy=a, ci_low=a - 0.1, ci_high=a + 0.1, draws=0, methods={}, ties=0,
                      abstained=0)

    return RunData(run_id=f"r{created}{selector}", created_unix=created, created="t", mode="subsets",
                   selector=SelectorInfo(name=selector, upper_bound=upper),
                   task=TaskInfo(name=task, version=version, grader_version="g1", source="x", grader="g"),
                   pool=PoolInfo(ref="toy/m/k", label="m", key="k",
                                 spec=GenSpec(backend="import", model="m")),
                   pool_match={}, grading={}, config={}, environment={}, problems=2,
                   summary=(point(1, 0.25), point(4, acc)))


def test_run_store_is_atomic(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    from harness.records import ProblemRow

    rec = write_run(runs, _record(), [ProblemRow(problem_id="p1", n=1, accuracy=1.0)])
    assert rec.problems() == [{"problem_id": "p1", "n": 1, "accuracy": 1.0}]
    assert load_runs(runs)[0].info == rec.info  # typed record round trip

    def exploding_rows():
        yield ProblemRow(problem_id="p1", n=1, accuracy=1.0)
        raise KeyboardInterrupt  # interrupted half-way through writing

    with pytest.raises(KeyboardInterrupt):
        write_run(runs, _record(created=2.0), exploding_rows())
    assert [r.run_id for r in load_runs(runs)] == [rec.run_id]  # no half-written record
    assert not [p for p in runs.iterdir() if p.name.startswith(".tmp")]


def test_leaderboard_newest_wins_and_versions_never_mix(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, _record(created=1.0, acc=0.5), [])
    write_run(runs, _record(created=2.0, acc=0.6), [])
    write_run(runs, _record(created=3.0, selector="oracle", acc=0.9, upper=True), [])
    write_run(runs, _record(created=4.0, version="2", acc=0.7), [])
    rows = leaderboard_rows(load_runs(runs))
    md = render_markdown(rows)
    assert md.count("## toy") == 2  # one section per task version
    assert "| m | majority | subsets | 4 | 60.00 |" in md and "50.00" not in md
    assert "oracle (upper bound)" in md
    assert "| m | majority | subsets | 1 | 25.00 |" in render_markdown(rows, n=1)
    assert np.isclose(sorted(r.accuracy for r in rows if r.n == 4)[-1], 0.9)


def test_leaderboard_pairs_each_selector_with_majority_over_problems(tmp_path):
    from harness.records import ProblemRow

    runs = tmp_path / "runs"
    majority = [0.5, 0.0, 1.0, 0.25]
    picked = [1.0, 0.0, 1.0, 0.75]
    write_run(runs, _record(created=1.0, selector="majority"),
              [ProblemRow(problem_id=f"p{i}", n=4, accuracy=a) for i, a in enumerate(majority)])
    write_run(runs, _record(created=2.0, selector="genselect"),
              [ProblemRow(problem_id=f"p{i}", n=4, accuracy=a) for i, a in enumerate(picked)])
    write_run(runs, _record(created=3.0, selector="rl-genselect"),
              [ProblemRow(problem_id=f"p{i}", n=4, accuracy=1.0) for i in range(4)])
    rows = {(r.selector, r.n): r for r in leaderboard_rows(load_runs(runs))}
    gs = rows[("genselect", 4)]
    assert gs.vs_majority == pytest.approx(np.mean(np.subtract(picked, majority)))
    assert gs.vs_majority_low <= gs.vs_majority <= gs.vs_majority_high and gs.vs_genselect is None
    rl = rows[("rl-genselect", 4)]
    assert rl.vs_genselect == pytest.approx(np.mean(1.0 - np.array(picked)))
    assert rows[("majority", 4)].vs_majority is None and rows[("genselect", 1)].vs_majority is None
    assert "vs genselect +31.2" in render_markdown(list(rows.values()))
