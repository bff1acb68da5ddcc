"""Code tasks and the code grader: extraction, comparison, LCB/HumanEval loading, verdicts,
behaviour clusters, the outcome cache, and the run pipeline on a small code pool.

Real-data tests read HARNESS_DATA_DIR (shared/data) and skip without it.
"""

from __future__ import annotations

import base64
import json
import pickle
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from harness.grades import _ref_hash
from harness.grading.code_extract import extract, extract_code
from harness.grading.code_grader import CodeGrader
from harness.grading.code_types import CodeTest, CodeVerdict, HumanEvalTests, LcbTests, code_tests
from harness.jsonl import read_records
from harness.sandbox import compare
from harness.task import TaskDataError
from harness.types import Candidate, Problem, Reference
from tasks import code_tasks
from tasks.code_tasks import behaviour_calls, decode_private_tests, lcb_files, literal_calls, sample_inputs

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox is Linux-only")


# -- extraction ----------------------------------------------------------------------------
@pytest.mark.parametrize("text, code, method", [
    ("```python\nprint(1)\n```", "print(1)\n", "python-block"),
    ("<think>```python\nprint(0)\n```</think>Final:\n```python\nprint(2)\n```", "print(2)\n", "python-block"),
    ("```python\na=1\n```\ntext\n```py\nb=2\n```\n```text\n3\n```", "b=2\n", "python-block"),
    ("```\nx = 5\n```", "x = 5\n", "last-block"),
    ("Answer:\n```python\nprint('trunc", "print('trunc", "unclosed-block"),
    ("<think>long reasoning, never closed ```python\nprint(1)\n```", None, "none:unfinished-reasoning"),
    ("The answer is 42.", None, "none:no-code-found"),
    ("n = int(input())\nprint(n * 2)\n", "n = int(input())\nprint(n * 2)\n", "whole-text"),
])
def test_extraction_rule(text, code, method):
    got = extract(text)
    assert (got.code, got.method) == (code, method)
    assert extract_code(text) == code


# -- comparison ----------------------------------------------------------------------------
def test_output_comparison_is_lcb_by_default_with_a_tolerant_option():
    # the full table against LiveCodeBench's rule is in tests/tasks/test_lcb_conformance.py
    for mode in compare.COMPARE_MODES:
        assert compare.outputs_match("3\n", "3", mode)
        assert compare.outputs_match("  1 2  \n3\n\n", "1 2\n3", mode)
        assert compare.outputs_match("1.0 0.50", "1 0.5", mode)  # Decimal equality, as LCB
        assert not compare.outputs_match("0.334", "0.333", mode)
        assert not compare.outputs_match("1000000001", "1000000000", mode)  # integers exact
        assert not compare.outputs_match("1\n2", "1", mode)
        assert not compare.outputs_match("Yes", "yes", mode)
        assert compare.values_match((1, 2), [1, 2], mode) and compare.values_match(1, True, mode)
        assert not compare.values_match([1, 2], [2, 1], mode)
        assert (compare.digest_for(compare.stdout_digest("2.0\n 3 "), mode)
                == compare.digest_for(compare.stdout_digest("2\n3"), mode))
    assert not compare.outputs_match("0.3333333", "0.33333333333")  # LCB: exact decimals
    assert compare.outputs_match("0.3333333", "0.33333333333", "tolerant")  # tolerance 1e-6
    assert not compare.values_match([0.1 + 0.2], [0.3])
    assert compare.values_match([0.1 + 0.2], [0.3], "tolerant")
    with pytest.raises(ValueError, match="unknown comparison"):
        compare.outputs_match("1", "1", "fuzzy")


# -- LCB data handling -------------------------------------------------------------------------
def test_private_tests_decode_and_refuse_objects():
    tests = [{"input": "1\n", "output": "2\n", "testtype": "stdin"}]
    blob = base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()
    assert decode_private_tests(blob) == tests
    assert decode_private_tests(json.dumps(tests)) == tests
    assert decode_private_tests(None) == []
    evil = base64.b64encode(zlib.compress(pickle.dumps(Path("/etc")))).decode()
    with pytest.raises(pickle.UnpicklingError):
        decode_private_tests(evil)


def test_release_files_and_statement_inputs():
    assert lcb_files("release_v6") == ["test.jsonl"] + [f"test{i}.jsonl" for i in range(2, 7)]
    assert lcb_files("v6") == ["test6.jsonl"] and lcb_files("v2_v3") == ["test2.jsonl", "test3.jsonl"]
    with pytest.raises(TaskDataError):
        lcb_files("release_v99x")
    atcoder = ("Sample Input 1\n\n3\n1 2 3\n\nSample Output 1\n\n6\n\n"
               "Sample Input 2\n\n1\n5\n\nSample Output 2\n\n5")
    assert sample_inputs(atcoder, functional=False) == ["3\n1 2 3\n", "1\n5\n"]
    leetcode = ('Example 1:\nInput: nums = [1,2,3], k = 2, s = "a,b"\nOutput: 3\n'
                'Example 2:\nInput: flag = true\n')
    assert sample_inputs(leetcode, functional=True) == ['[1, 2, 3]\n2\n"a,b"', "true"]


def test_humaneval_behaviour_calls_are_literal_inputs_only():
    test = ("def check(candidate):\n    assert candidate([1, 2], 3) == 5\n    for x in range(3):\n"
            "        assert candidate([x], x) == x\n    assert candidate('a' * 2, -1) == 'aa'\n")
    assert literal_calls(test, "candidate") == ["[1, 2], 3", "'a' * 2, -1"]
    prompt = 'def f(xs, n):\n    """\n    >>> f([7], 1)\n    7\n    >>> f([1, 2], 3)\n    """\n'
    assert behaviour_calls(prompt, test, "f") == ["[1, 2], 3", "'a' * 2, -1", "[7], 1"]


# -- the grader on synthetic problems ------------------------------------------------------------
def _lcb_ref(pid, testtype, tests, func_name=None):
    return Reference(pid, tests=LcbTests(testtype=testtype, func_name=func_name,
                                         tests=tuple(CodeTest(i, o) for i, o in tests),
                                         behaviour_inputs=tuple(i for i, _ in tests)))


def test_code_tests_and_verdicts_are_typed_with_json_round_trips():
    lcb = _lcb_ref("p", "functional", [("1\n2", "3")], func_name="add").tests
    as_json = {"kind": "lcb", "testtype": "functional", "func_name": "add",
               "tests": [{"input": "1\n2", "output": "3"}], "behaviour_inputs": ["1\n2"]}
    assert lcb.to_json() == as_json and code_tests(as_json) == lcb and code_tests(lcb) is lcb
    he = HumanEvalTests(prompt="def f():\n", test="def check(c):\n    pass\n", entry_point="f",
                        behaviour_calls=("1",))
    assert code_tests(json.loads(json.dumps(he.to_json()))) == he
    # the grade cache hashes a typed reference exactly as the dict it used to be
    assert _ref_hash(Reference("p", tests=lcb)) == _ref_hash(Reference("p", tests=as_json))
    verdict = CodeVerdict("WA", "test 0: wrong output", ("ok:ab", "!timeout"))
    assert CodeVerdict.from_json(json.loads(json.dumps(verdict.to_json()))) == verdict
    with pytest.raises(ValueError, match="verdict"):
        CodeVerdict("maybe")
    with pytest.raises(ValueError, match=r"test 0: missing field 'output'"):
        code_tests({**as_json, "tests": [{"input": "1"}]})
    with pytest.raises(ValueError, match="no code tests"):
        code_tests({"kind": "math"})


def _grade(refs, texts, **kw):
    problems = [Problem(pid, "t", "") for pid in texts]
    cands = {pid: [Candidate(pid, i, t) for i, t in enumerate(ts)] for pid, ts in texts.items()}
    return CodeGrader(**kw).grade(problems, refs, cands, workers=2, progress=False)


def test_verdicts_and_behaviour_clusters():
    refs = {"sum": _lcb_ref("sum", "stdin", [("1 2\n", "3\n"), ("5 5\n", "10\n"), ("0 0\n", "0\n")]),
            "sq": _lcb_ref("sq", "functional", [("3", "9"), ("-2", "4")], func_name="sq")}
    py = "```python\n{}\n```".format
    texts = {
        "sum": [py("a, b = map(int, input().split())\nprint(a + b)"),
                py("import sys\nprint(sum(map(int, sys.stdin.read().split())))"),  # same behaviour
                py("a, b = map(int, input().split())\nprint(a * b if a != 5 else 10)"),  # WA on test 0
                py("print(1/0)"),  # RE: no output on any input -> no cluster
                py("while True:\n    pass"),  # TLE
                py("x = [0] * (10 ** 10)"),  # MLE
                py("def broken(:"),  # CE
                "I cannot solve this."],  # no code -> CE
        "sq": [py("class Solution:\n    def sq(self, x: int) -> int:\n        return x * x"),
               py("class Solution:\n    def sq(self, x):\n        return abs(x) ** 2"),  # same behaviour
               py("class Solution:\n    def sq(self, x):\n        return x * 3"),  # AC on test 0 only
               py("class Solution:\n    def sq(self, x):\n        return None")],
    }
    grades = _grade(refs, texts, timeout_s=1.5, memory_mb=512)
    got = {pid: [(g.verdict, g.cluster) for g in gs] for pid, gs in grades.items()}
    assert got["sum"] == [("AC", 0), ("AC", 0), ("WA", 1), ("RE", None), ("TLE", None), ("MLE", None),
                          ("CE", None), ("CE", None)]
    assert got["sq"] == [("AC", 0), ("AC", 0), ("WA", 1), ("WA", 2)]
    wa = grades["sum"][2]
    assert wa.correct is False and wa.detail.startswith("test 0:")
    assert grades["sq"][2].detail.startswith("test 1:")
    assert all(g.correct is (g.verdict == "AC") for gs in grades.values() for g in gs)


def test_outcome_cache_makes_regrading_free(tmp_path):
    refs = {"sum": _lcb_ref("sum", "stdin", [("1 2\n", "3\n")])}
    texts = {"sum": ["```python\nprint(sum(map(int, input().split())))\n```", "```python\nprint(0)\n```"]}
    first = _grade(refs, texts, cache_dir=tmp_path)
    # a sandbox that cannot start would give errors: the cached outcomes are used instead
    again = _grade(refs, texts, cache_dir=tmp_path, python=str(tmp_path / "missing-python"))
    assert [g.verdict for g in again["sum"]] == [g.verdict for g in first["sum"]] == ["AC", "WA"]
    cache_file = tmp_path / f"code-exec-{CodeGrader().version}.outcomes.jsonl"
    header, rows = read_records(cache_file, "exec-outcomes")
    assert len(rows) == 2 and header["grader"] == f"code-exec-{CodeGrader().version}"


# -- hub adapter, offline (a local folder in the layout of livecodebench/code_generation_lite) ----------
def test_livecodebench_hub_layout_with_filters(tmp_path):
    def row(qid, date, platform, difficulty, private=None):
        return {"question_title": qid, "question_content": f"Problem {qid}", "platform": platform,
                "question_id": qid, "contest_id": "c", "contest_date": date, "starter_code": "",
                "difficulty": difficulty, "metadata": "{}",
                "public_test_cases": json.dumps([{"input": "1\n", "output": "1\n", "testtype": "stdin"}]),
                "private_test_cases": private}
    private = base64.b64encode(zlib.compress(pickle.dumps(json.dumps(
        [{"input": "2\n", "output": "2\n", "testtype": "stdin"}])))).decode()
    (tmp_path / "test5.jsonl").write_text("\n".join(json.dumps(r) for r in (
        row("old", "2024-06-01T00:00:00", "atcoder", "easy"),
        row("a1", "2024-09-01T00:00:00", "atcoder", "easy", private))))
    (tmp_path / "test6.jsonl").write_text("\n".join(json.dumps(r) for r in (
        row("a2", "2025-02-01T00:00:00", "atcoder", "hard"),
        row("l1", "2025-03-01T00:00:00", "leetcode", "easy"),
        row("late", "2025-06-01T00:00:00", "atcoder", "easy"))))
    from harness.settings import Settings

    settings = Settings.resolve(data_dir=tmp_path / "no-local", results_dir=tmp_path / "results")
    task = code_tasks.livecodebench(settings, "release=v5_v6,platform=atcoder", hub_id=str(tmp_path))
    assert [p.id for p in task.problems()] == ["lcb-a1", "lcb-a2"]
    assert [t.input for t in task.references()["lcb-a1"].tests.tests] == ["1\n", "2\n"]
    assert task.references()["lcb-a1"].tests.behaviour_inputs == ("1\n",)  # public inputs only
    task = code_tasks.livecodebench(settings, "release=v6,difficulty=easy+hard,start=2025-01-01",
                                    hub_id=str(tmp_path))
    assert [p.id for p in task.problems()] == ["lcb-a2", "lcb-l1"]
    with pytest.raises(TaskDataError):
        code_tasks.livecodebench(settings, "color=blue")


# -- real data ---------------------------------------------------------------------------------
LCB_SOLUTIONS = {
    "lcb-abc374_b": ("S = input().strip()\nT = input().strip()\nif S == T:\n    print(0)\nelse:\n    i = 0\n"
                     "    while i < min(len(S), len(T)) and S[i] == T[i]:\n        i += 1\n"
                     "    print(i + 1)\n",
                     "S, T = input(), input()\nfor i, (a, b) in enumerate(zip(S, T)):\n    if a != b:\n"
                     "        print(i + 1)\n        break\n"
                     "else:\n    print(0)\n"),  # wrong when lengths differ
    "lcb-abc388_b": ("N, D = map(int, input().split())\n"
                     "S = [tuple(map(int, input().split())) for _ in range(N)]\n"
                     "for k in range(1, D + 1):\n    print(max(t * (l + k) for t, l in S))\n",
                     "N, D = map(int, input().split())\n"
                     "S = [tuple(map(int, input().split())) for _ in range(N)]\n"
                     "for k in range(D):\n    print(max(t * (l + k) for t, l in S))\n"),  # off by one
    "lcb-3626": ("class Solution:\n    def smallestNumber(self, n: int, t: int) -> int:\n"
                 "        while True:\n"
                 "            p = 1\n            for c in str(n):\n                p *= int(c)\n"
                 "            if p % t == 0:\n                return n\n            n += 1\n",
                 "class Solution:\n    def smallestNumber(self, n: int, t: int) -> int:\n        return n\n"),
    "lcb-3610": ("class Solution:\n    def findXSum(self, nums: List[int], k: int, x: int) -> List[int]:\n"
                 "        out = []\n        for i in range(len(nums) - k + 1):\n"
                 "            c = Counter(nums[i:i + k])\n"
                 "            top = sorted(c.items(), key=lambda kv: (-kv[1], -kv[0]))[:x]\n"
                 "            out.append(sum(v * f for v, f in top))\n        return out\n",
                 "class Solution:\n    def findXSum(self, nums, k, x):\n"
                 "        return [sum(nums[i:i + k]) for i in range(len(nums) - k + 1)]\n"),
}


def test_livecodebench_shared_data_loads_and_grades(settings):
    from harness.plugins import load_task

    task = load_task("livecodebench", settings)
    problems = task.problems()
    refs = task.references()
    assert len(problems) == 60 and task.kind == "code"
    kinds = {(p.metadata["platform"], p.metadata["testtype"]) for p in problems}
    assert kinds == {("atcoder", "stdin"), ("leetcode", "functional")}
    assert all(refs[p.id].tests.tests and refs[p.id].tests.behaviour_inputs for p in problems)
    lc = next(p for p in problems if p.metadata["testtype"] == "functional")
    assert lc.metadata["starter_code"].strip() in task.prompt(lc) and "```python" in task.prompt(lc)
    assert len(load_task("livecodebench:platform=atcoder,difficulty=easy", settings).problems()) == 10

    chosen = [p for p in problems if p.id in LCB_SOLUTIONS]
    cands = {pid: [Candidate(pid, i, f"Here is my solution.\n```python\n{code}```\n")
                   for i, code in enumerate(pair)] for pid, pair in LCB_SOLUTIONS.items()}
    grades = task.grader().grade(chosen, refs, cands, workers=2, progress=False)
    assert ({pid: [g.verdict for g in gs] for pid, gs in grades.items()}
            == {pid: ["AC", "WA"] for pid in LCB_SOLUTIONS})
    assert all(gs[0].cluster != gs[1].cluster for gs in grades.values())


def _pool_rows(data_dir: Path, problems: set[str], per_problem: int) -> list[dict]:
    rows = []
    with open(data_dir / "pools" / "humaneval" / "codegen-16b.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row["problem_id"] in problems and row["sample_index"] < per_problem:
                rows.append(row)
    return rows


def test_humaneval_pool_sample_matches_plain_execution(settings, data_dir, tmp_path):
    """5 problems x 10 CodeGen samples: the sandbox's correctness equals running the official
    program (prompt + completion + test + check) in a plain subprocess."""
    from harness.plugins import load_task

    task = load_task("humaneval", settings)
    problems = [p for p in task.problems() if p.id in {"HumanEval/0", "HumanEval/2", "HumanEval/12",
                                                         "HumanEval/29", "HumanEval/53"}]
    refs = task.references()
    rows = _pool_rows(data_dir, {p.id for p in problems}, 10)
    cands: dict[str, list[Candidate]] = {}
    for row in rows:
        cands.setdefault(row["problem_id"], []).append(
            Candidate(row["problem_id"], row["sample_index"], row["response"]))
    grades = task.grader().grade(problems, refs, cands, workers=2, progress=False)
    expected = {}
    for row in rows:
        ref = refs[row["problem_id"]].tests
        program = ref.prompt + row["response"] + "\n" + ref.test + f"\ncheck({ref.entry_point})\n"
        path = tmp_path / "prog.py"
        path.write_text(program)
        try:
            proc = subprocess.run([sys.executable, "-S", str(path)], capture_output=True, timeout=5,
                                  cwd=tmp_path, stdin=subprocess.DEVNULL)
            expected[(row["problem_id"], row["sample_index"])] = proc.returncode == 0
        except subprocess.TimeoutExpired:
            expected[(row["problem_id"], row["sample_index"])] = False
    got = {(g.problem_id, g.index): g.correct for gs in grades.values() for g in gs}
    assert got == expected
    assert 0 < sum(got.values()) < len(got)
    assert all(g.verdict != "error" for gs in grades.values() for g in gs)
    # majority votes on behaviour: correct candidates of one problem share one cluster
    for gs in grades.values():
        assert len({g.cluster for g in gs if g.correct}) <= 1


def test_humaneval_canonical_solutions_pass(settings):
    from harness.plugins import load_task

    task = load_task("humaneval", settings)
    problems = task.problems()[::4]  # 41 of the 164, to keep the suite fast
    canon = task.canonical_solutions()
    cands = {p.id: [Candidate(p.id, 0, canon[p.id])] for p in problems}
    grades = task.grader().grade(problems, task.references(), cands, workers=2, progress=False)
    assert {g.verdict for gs in grades.values() for g in gs} == {"AC"}


def test_run_pipeline_on_a_code_pool(settings, tmp_path):
    """pool import -> sandboxed grading (cached per grader version) -> first/majority/oracle."""
    from harness.config import RunConfig
    from harness.plugins import load_task
    from harness.pool_import import import_pool
    from harness.pools import PoolStore
    from harness.run import run

    task = load_task("livecodebench", settings)
    lines = []
    for pid, (good, bad) in LCB_SOLUTIONS.items():
        for i, code in enumerate([bad, good, good, bad, good]):
            lines.append({"problem_id": pid, "model": "hand-written", "sample_index": i,
                          "response": f"```python\n{code}```"})
    path = tmp_path / "pool.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in lines) + "\n")
    report = import_pool(PoolStore(settings.pools_dir), task, [path])
    config = RunConfig(task="livecodebench", selectors=("first", "majority", "oracle"), pool=report.pools[0],
                       ns=(1, 3, 5), progress=False, draws=200)
    outcome = run(config, settings, log=lambda message: None)
    acc = {r.selector: {s.n: s.accuracy for s in r.summary} for r in outcome.records}
    assert acc["first"][1] == pytest.approx(0.6)
    assert acc["oracle"][5] == 1.0 and acc["majority"][5] == 1.0  # 3 of 5 agree on the right behaviour
    assert outcome.grading.graded == 20 and outcome.grading.errors == 0
    again = run(config, settings, log=lambda message: None)
    assert again.grading.cached == 20 and again.grading.graded == 0


def test_statement_inputs_split_behaviour_and_full_function_answers():
    # an extra behaviour input (from the statement) separates two programs that pass the tests;
    # the references are in their JSON form (plain dicts), which the grader reads as typed tests
    ref = Reference("d", tests={"kind": "lcb", "testtype": "stdin", "func_name": None,
                                "tests": [{"input": "4\n", "output": "8\n"}],
                                "behaviour_inputs": ["4\n", "0\n"]})
    he = Reference("h", tests={"kind": "humaneval",
                               "prompt": "from typing import List\n\n\ndef total(xs: List[int]) -> int:\n",
                               "entry_point": "total", "completion": "full", "behaviour_calls": ["[1, 2]"],
                               "test": "def check(candidate):\n    assert candidate([1, 2]) == 3\n"})
    texts = {"d": ["```python\nprint(2 * int(input()))\n```",
                   "```python\nn = int(input())\nprint(n + n if n else 1)\n```",
                   "```python\nprint(int(input()) * 2)\n```"],
             "h": ["Sure:\n```python\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n```",
                   "```python\ndef total(xs):\n    return 0\n```"]}
    grades = _grade({"d": ref, "h": he}, texts)
    assert [(g.verdict, g.cluster) for g in grades["d"]] == [("AC", 0), ("AC", 1), ("AC", 0)]
    assert [(g.verdict, g.cluster) for g in grades["h"]] == [("AC", 0), ("WA", 1)]


def test_large_inputs_are_not_prefetched_and_still_run():
    from harness.sandbox import Executor, Job, Run

    big = ("7 " * 400_000).encode()
    jobs = [Job(files={"p.py": "import sys\nprint(len(sys.stdin.buffer.read()))\n"},
                runs=(Run(argv=("p.py",), stdin=big),))
            for _ in range(3)]
    with Executor(workers=1) as ex:
        results = ex.run(jobs)
    assert [r.runs[0].stdout_head for r in results] == [f"{len(big)}\n"] * 3
