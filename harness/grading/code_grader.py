"""The code grader: sandboxed execution -> verdicts (AC/WA/TLE/RE/CE/MLE) and behaviour clusters.

Per candidate: extract the program (code_extract: LiveCodeBench's own rule for LCB problems,
unless `extraction="lenient"`; the lenient rule for HumanEval full answers; HumanEval body
completions are used as they are), compile it (CE: no run), run the tests in the sandbox
(harness.sandbox), and take the verdict of the first failing test (detail "test <i>: ...");
all tests pass -> AC. LCB outputs are compared by LiveCodeBench's official rule
(`comparison="lcb"`: stripped lines, numbers as exact decimals, returned values by ==) or by a
tolerant one (`comparison="tolerant"`); see harness/sandbox/compare.py.

Where this differs from LiveCodeBench's own grader: LCB runs a program inside its grader's
process (stdin code wrapped in a function, stdin and stdout patched; one `Solution()` instance
for all the tests of a functional problem); the harness runs each test as its own process, as
a judge does. Programs whose outcome depends on that can get another verdict: output printed
from a thread after the function returned, stdin read twice, streams bound before LCB patches
them (`from sys import stdin, stdout`), code that breaks inside a function (module-level
`global`), state kept on the `Solution` instance. tests/tasks/test_lcb_conformance.py documents each
class.

Behaviour clusters (what `majority` votes on): every candidate is also run on the problem's
behaviour inputs - test INPUTS only, never expected outputs (LCB: public test inputs plus the
statement's sample inputs; HumanEval: the literal calls of `check` and of the docstring
examples, see tasks/code_tasks.py). Its signature is the tuple of outcomes on those inputs
(normalised output, returned value, or the error kind); equal signatures share a cluster id,
numbered 0, 1, ... per problem in first-appearance order. No cluster (None, never votes) when
no code was extracted, it did not compile, or it produced no output on any behaviour input.
A HumanEval problem without usable behaviour inputs falls back to clustering identical
programs (same AST).

Grader failures (no sandbox, crashed worker, failed pre-exec step) give verdict "error" with
correct=None, never a wrong answer. Outcomes are cached on disk per (program, tests, grader
version) under `cache_dir`, so re-grading the same programs costs nothing.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from harness.grading.code_extract import EXTRACT_RULES, EXTRACT_VERSION, extract, prompt_imports
from harness.grading.code_types import (
    VERDICTS_CODE,
    CodeTests,
    CodeTestsError,
    CodeVerdict,
    HumanEvalTests,
    LcbTests,
    Verdict,
    code_tests,
)
from harness.jsonl import Appender, JsonlFormatError, read_records
from harness.progress import progress_bar
from harness.sandbox import compare
from harness.sandbox.executor import Executor, Job, JobResult, Limits, Run, SandboxError
from harness.sandbox.runners import FUNCTIONAL_RUNNER, HUMANEVAL_RUNNER, with_prelude
from harness.types import Candidate, Grade, Problem, Reference

GRADER_NAME = "code-exec"
GRADER_VERSION = "2"  # 2: LCB's exact comparison and extraction by default
__all__ = ["CodeGrader", "GRADER_NAME", "GRADER_VERSION", "VERDICTS_CODE"]


@dataclass
class _Plan:
    """One candidate's job, or its outcome when no run is needed (no code, cache hit)."""

    problem_id: str
    index: int
    ref: CodeTests
    key: str | None = None
    job: Job | None = None
    outcome: CodeVerdict | None = None
    code: str | None = None


@dataclass
class CodeGrader:
    timeout_s: float = 6.0  # per test
    memory_mb: int = 2048
    cache_dir: str | os.PathLike | None = None
    python: str | None = None
    isolation_mode: str = "auto"
    comparison: str = compare.DEFAULT_MODE  # LCB outputs: "lcb" (official) or "tolerant"
    extraction: str = "lcb"  # LCB answers: "lcb" (official) or "lenient" (code_extract)
    name: str = GRADER_NAME
    last_isolation: dict | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        compare.check_mode(self.comparison)
        if self.extraction not in EXTRACT_RULES:
            raise ValueError(f"unknown extraction rule {self.extraction!r}; "
                             f"known: {', '.join(EXTRACT_RULES)}")

    @property
    def version(self) -> str:
        memory = f"-m{self.memory_mb}" if self.memory_mb != 2048 else ""
        rules = (f"-{self.comparison}" if self.comparison != compare.DEFAULT_MODE else "") + (
            f"-x{self.extraction}" if self.extraction != "lcb" else "")
        return f"{GRADER_VERSION}.x{EXTRACT_VERSION}-t{self.timeout_s:g}{memory}{rules}"

    def isolation(self) -> dict:
        """The sandbox isolation in force on this host (from the last grading, else probed)."""
        if self.last_isolation is None:
            with self._executor(1) as ex:
                self.last_isolation = ex.isolation()
        return dict(self.last_isolation)

    def _executor(self, workers: int) -> Executor:
        limits = Limits(timeout_s=self.timeout_s, memory_mb=self.memory_mb)
        return Executor(workers=workers, limits=limits, python=self.python, isolation=self.isolation_mode)

    # -- the Grader protocol ------------------------------------------------------------------
    def grade(self, problems: Sequence[Problem], references: Mapping[str, Reference],
              candidates: Mapping[str, Sequence[Candidate]], *, workers: int = 0,
              progress: bool = True) -> dict[str, list[Grade]]:
        cache = _Cache(self.cache_dir, f"{self.name}-{self.version}")
        plans: dict[str, list[_Plan]] = {}
        for problem in problems:
            cands = sorted(candidates.get(problem.id, ()), key=lambda c: c.index)
            if not cands:
                continue
            tests = code_tests(references[problem.id].tests, f"problem {problem.id}")
            plans[problem.id] = [self._plan(problem.id, c, tests, cache) for c in cands]
        todo = [p for ps in plans.values() for p in ps if p.outcome is None]
        total = sum(len(ps) for ps in plans.values())
        try:  # outcomes computed before an interrupt are kept
            with progress_bar(total=total, desc="grading code", unit="prog", enabled=progress) as bar:
                bar.update(total - len(todo))
                if todo:
                    jobs = [p.job for p in todo if p.job is not None]
                    assert len(jobs) == len(todo)  # a plan without an outcome always has a job
                    try:
                        with self._executor(workers or os.cpu_count() or 1) as ex:
                            self.last_isolation = ex.isolation()
                            if self.last_isolation.get("warnings") and progress:
                                print("sandbox: " + "; ".join(self.last_isolation["warnings"]),
                                      file=sys.stderr)
                            for i, result in ex.map(jobs):
                                plan = todo[i]
                                plan.outcome = _outcome(plan.ref, result, self.comparison)
                                if plan.outcome.verdict != "error":
                                    cache.put(plan.key, plan.outcome)
                                bar.update(1)
                    except SandboxError as exc:  # no strict isolation: every program is a grader error
                        for plan in todo:
                            plan.outcome = plan.outcome or CodeVerdict("error", str(exc))
        finally:
            cache.close()
        return {pid: _grades(pid, ps) for pid, ps in plans.items()}

    # -- building jobs -------------------------------------------------------------------------
    def _plan(self, problem_id: str, cand: Candidate, tests: CodeTests, cache: "_Cache") -> _Plan:
        plan = _Plan(problem_id, cand.index, ref=tests)
        code: str | None
        if isinstance(tests, HumanEvalTests) and tests.completion == "body":
            code, method = tests.prompt + cand.text, "completion"
        else:
            extraction = extract(cand.text, self.extraction if isinstance(tests, LcbTests) else "lenient")
            code, method = extraction.code, extraction.method
            if code is not None and isinstance(tests, HumanEvalTests):
                code = prompt_imports(tests.prompt) + code
        if code is None:
            plan.outcome = CodeVerdict("CE", f"no code extracted ({method})")
            return plan
        plan.code = code
        if isinstance(tests, LcbTests):
            plan.job = self._lcb_job(code, tests)
        else:
            plan.job = self._humaneval_job(code, tests)
        plan.key = _job_key(plan.job, self.version)
        plan.outcome = cache.get(plan.key)
        return plan

    def _lcb_job(self, code: str, tests: LcbTests) -> Job:
        program = with_prelude(code)
        functional = tests.testtype == "functional"
        behaviour = list(dict.fromkeys(tests.behaviour_inputs))
        graded = [(t.input, t.expected) for t in tests.tests]
        runs = []

        def make(inp: str, expected: str | None) -> Run:
            always = inp in behaviour
            if functional:
                try:  # one JSON argument per line (LCB), passed on as a Python literal
                    args = [json.loads(line) for line in inp.split("\n") if line.strip()]
                except json.JSONDecodeError:
                    args = ["__unparseable_input__"]
                spec = repr({"func_name": tests.func_name, "args": args}) + "\n"
                return Run(argv=("runner.py",), stdin=spec.encode(), channel=True, always=always,
                           expect=None if expected is None else ("json", expected, self.comparison))
            return Run(argv=("prog.py",), stdin=inp.encode(), always=always,
                       expect=None if expected is None else ("stdout", expected, self.comparison))

        runs = [make(inp, out) for inp, out in graded]
        runs += [make(inp, None) for inp in behaviour if inp not in {i for i, _ in graded}]
        files = ({"solution.py": program, "runner.py": FUNCTIONAL_RUNNER} if functional
                 else {"prog.py": program})
        backstop = min(300.0, (self.timeout_s + 1) * len(runs) + 5)
        return Job(files=files, runs=tuple(runs), compile=(("solution.py", code),), backstop_s=backstop)

    def _humaneval_job(self, code: str, tests: HumanEvalTests) -> Job:
        entry = tests.entry_point
        spec = repr({"entry_point": entry, "behaviour": list(tests.behaviour_calls),
                     "call_timeout": 1.0}) + "\n"
        program = code + "\n" + tests.test + f"\ncheck({entry})\n"
        run = Run(argv=("runner.py",), stdin=spec.encode(), channel=True, expect=("marker",), always=True)
        return Job(files={"solution.py": code, "test.py": tests.test, "runner.py": HUMANEVAL_RUNNER},
                   runs=(run,), compile=(("program.py", program),), backstop_s=self.timeout_s + 5)


# -- outcomes ---------------------------------------------------------------------------------
_STATUS_VERDICT: dict[str, Verdict] = {"timeout": "TLE", "memory": "MLE", "output_limit": "RE",
                                       "failed": "RE"}


def _outcome(ref: CodeTests, result: JobResult, mode: str = compare.DEFAULT_MODE) -> CodeVerdict:
    if result.error is not None:
        return CodeVerdict("error", result.error)
    if result.compile_error is not None:
        return CodeVerdict("CE", result.compile_error)
    if isinstance(ref, HumanEvalTests):
        return _humaneval_outcome(ref, result)
    functional = ref.testtype == "functional"
    verdict: Verdict = "AC"
    detail = f"passed {len(ref.tests)} tests"
    for i, run in enumerate(result.runs[:len(ref.tests)]):
        if run.passed:
            continue
        verdict = _run_verdict(run, functional=functional)
        detail = f"test {i}: {run.detail or run.status}"[:500]
        break
    behaviour = list(dict.fromkeys(ref.behaviour_inputs))
    inputs = [t.input for t in ref.tests]
    inputs += [i for i in behaviour if i not in set(inputs)]
    by_input = dict(zip(inputs, result.runs))
    signature = tuple(_behaviour_element(by_input.get(i), functional, mode) for i in behaviour)
    return CodeVerdict(verdict, detail, signature or None)


def _run_verdict(run, functional: bool) -> Verdict:
    if run.status in _STATUS_VERDICT:
        return _STATUS_VERDICT[run.status]
    if run.status == "ok":
        if functional and not any("result" in r for r in run.records):
            return "RE"  # an exception in the solution, or it exited before returning
        return "WA"
    return "RE"


def _behaviour_element(run, functional: bool, mode: str) -> str:
    if run is None or run.status in ("skipped", "error"):
        return "!missing"
    if run.status != "ok":
        return "!" + run.status
    if functional:
        for record in run.records:
            if "result" in record:
                return "ok:" + compare.value_digest(record["result"], mode)
            if "error" in record:
                return "!" + str(record["error"])
        return "!no-result"
    return "ok:" + compare.digest_for(run.stdout_digest or "", mode)


def _humaneval_outcome(ref: HumanEvalTests, result: JobResult) -> CodeVerdict:
    run = result.runs[0]
    checks = [r for r in run.records if "check" in r]
    verdict: Verdict
    if checks:
        check = checks[-1]
        if check["check"] == "pass":
            verdict, detail = "AC", "check passed"
        elif check["check"] == "fail":
            verdict, detail = "WA", f"test 0: assertion failed {check.get('message') or ''}".strip()
        else:
            verdict = "MLE" if check.get("error") == "MemoryError" else "RE"
            detail = f"test 0: {check.get('error')}: {check.get('message') or ''}".strip(": ")
    else:
        verdict = _STATUS_VERDICT.get(run.status, "RE")
        detail = f"test 0: {run.detail or 'exited before the check ran'}"
    signature: tuple[str, ...] | None = None
    if ref.behaviour_calls:
        got = [r for r in run.records if "behaviour" in r]
        values = got[-1]["behaviour"] if got else None
        if values:
            signature = tuple(("!" + v[1:]) if isinstance(v, str) and v.startswith("!")
                              else "ok:" + compare.value_digest(v, "tolerant") for v in values)
    else:
        signature = ("code:",)  # no behaviour inputs: identical programs cluster (digest added in _grades)
    return CodeVerdict(verdict, detail[:500], signature)


def _ast_digest(code: str | None) -> str:
    try:
        blob = ast.dump(ast.parse(code or ""))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        blob = code or ""
    return hashlib.sha256(blob.encode("utf-8", "replace")).hexdigest()[:16]


def _grades(problem_id: str, plans: list[_Plan]) -> list[Grade]:
    clusters: dict[tuple, int] = {}
    out = []
    for plan in plans:
        outcome = plan.outcome or CodeVerdict("error", "not graded")
        signature = outcome.signature
        if signature == ("code:",):
            signature = ("code:" + _ast_digest(plan.code),)
        cluster = None
        answer = None
        if outcome.verdict not in ("CE", "error") and signature and any(s.startswith(("ok:", "code:"))
                                                                       for s in signature):
            cluster = clusters.setdefault(signature, len(clusters))
            answer = _short(signature)
        verdict = outcome.verdict
        out.append(Grade(problem_id=problem_id, index=plan.index, verdict=verdict,
                         correct=None if verdict == "error" else verdict == "AC",
                         answer=answer, cluster=cluster,
                         detail=outcome.detail))
    return out


def _short(signature: Sequence[str]) -> str:
    return "behaviour:" + hashlib.sha256("|".join(signature).encode()).hexdigest()[:12]


def _job_key(job: Job, version: str) -> str:
    blob = json.dumps({"v": version, "files": dict(job.files), "compile": [list(c) for c in job.compile],
                       "runs": [[list(r.argv), r.stdin.decode("utf-8", "replace"), r.expect, r.timeout_s,
                                 r.always, r.channel] for r in job.runs]}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8", "replace")).hexdigest()


class _Cache:
    """Outcomes per grader version: <cache_dir>/<grader>-<version>.outcomes.jsonl (harness.jsonl).

    An append-only file with a header (kind "exec-outcomes"), one {"key", "outcome"} record a
    line; later lines win. Puts are buffered and appended in small batches, each under the file's
    lock (so concurrent graders never wait on each other for long); a killed run loses at most
    the batch in flight, which only means those programs run again.
    """

    KIND = "exec-outcomes"
    BATCH = 64

    def __init__(self, cache_dir: str | os.PathLike | None, name: str) -> None:
        self.name = name
        self.path = Path(cache_dir) / f"{name}.outcomes.jsonl" if cache_dir else None
        self.rows: dict[str, CodeVerdict] = {}
        self.pending: list[dict[str, Any]] = []
        if self.path is not None and self.path.exists():
            _, rows = read_records(self.path, self.KIND)
            for row in rows:
                where = f"{self.path}:{row['_line']}"
                if not isinstance(row.get("key"), str):
                    raise JsonlFormatError(f"{where}: field 'key' must be str")
                try:
                    self.rows[row["key"]] = CodeVerdict.from_json(row.get("outcome"), where)
                except CodeTestsError as exc:
                    raise JsonlFormatError(str(exc)) from exc

    def get(self, key: str | None) -> CodeVerdict | None:
        return self.rows.get(key) if key else None

    def put(self, key: str | None, outcome: CodeVerdict) -> None:
        if self.path is None or key is None:
            return
        self.rows[key] = outcome
        self.pending.append({"key": key, "outcome": outcome.to_json()})
        if len(self.pending) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        if self.path is None or not self.pending:
            return
        with Appender(self.path, self.KIND, {"grader": self.name}) as out:
            out.write_many(self.pending)
        self.pending = []

    def close(self) -> None:
        self.flush()
