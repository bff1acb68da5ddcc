"""Math grading that can always be stopped: every step runs in a worker process the supervisor kills.

math-verify bounds its own parsing and verification with signal.alarm, which cannot interrupt
work that stays inside C: sympy evaluating `3^{2^{33}}` while clustering computes a
multi-gigabyte integer and never returns. So each problem is graded in a worker process that
tells the supervisor which step it is on (the reference, each distinct answer, each answer's
clustering), and a step that runs past `step_limit_s` ends the worker (SIGKILL). The job is then
rerun on a fresh worker with that answer marked: graded `error` (never wrong) and put in a
cluster of its own. Every kill is counted and named.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Sequence

from harness.grading.math_answers import (
    AnswerGrade,
    cluster_answers,
    extract_answer,
    grade_answer,
    parse_answer,
)
from harness.types import Grade

STEP_LIMIT_S = 30.0  # math-verify's own timeouts are 5 s a call; a step makes a few calls
GOLD = "\0reference"  # the step that parses the reference answer


@dataclass(frozen=True)
class ProblemJob:
    problem_id: str
    gold: str
    texts: tuple[str, ...]
    integer: bool
    indices: tuple[int, ...]


@dataclass(frozen=True)
class Kill:
    """One step that ran past the limit."""

    problem_id: str
    step: str  # "reference", "grade" or "cluster"
    answer: str  # the answer being worked on (cut to 200 characters)
    seconds: float


def grade_problem(job: ProblemJob, *, killed: frozenset[tuple[str, str]] = frozenset(),
                  on_step: Callable[[str, str], None] | None = None) -> list[Grade]:
    """Grades of one problem's candidates. `killed` holds the (step, answer) pairs a supervisor
    already had to kill: those are not attempted again."""
    step = on_step or (lambda kind, answer: None)
    step("extract", "")
    extractions = [extract_answer(text) for text in job.texts]
    answers = [e.answer for e in extractions]
    gold_killed = ("reference", GOLD) in killed
    if not gold_killed:
        step("reference", GOLD)
        parse_answer(job.gold, integer=job.integer)  # once here, so a stuck reference is blamed on itself
    skip = frozenset(a for kind, a in killed if kind == "cluster")
    clusters = cluster_answers(answers, integer=job.integer, skip=skip,
                               on_step=lambda answer: step("cluster", answer))
    parsed_cache: dict = {}
    by_answer: dict[str | None, AnswerGrade] = {}
    grades = []
    for index, extraction, cluster in zip(job.indices, extractions, clusters):
        answer = extraction.answer
        if answer not in by_answer:
            if gold_killed and answer is not None and answer.strip():
                by_answer[answer] = AnswerGrade("error", None, "reference parse killed at the time limit")
            elif answer is not None and ("grade", answer) in killed:
                by_answer[answer] = AnswerGrade("error", None, "grading killed at the time limit")
            else:
                if answer is not None:
                    step("grade", answer)
                by_answer[answer] = grade_answer(answer, job.gold, integer=job.integer,
                                                 parsed_cache=parsed_cache)
        verdict = by_answer[answer]
        grades.append(Grade(problem_id=job.problem_id, index=index, verdict=verdict.verdict,
                            correct=verdict.correct, answer=answer, cluster=cluster,
                            detail=f"{extraction.method}; {verdict.detail}".strip("; ")))
    return grades


def _worker_loop(conn: Connection) -> None:
    """In the worker: grade jobs as they come, announcing each step before starting it."""
    while True:
        message = conn.recv()
        if message is None:
            return
        job, killed = message
        grades = grade_problem(job, killed=killed,
                               on_step=lambda kind, answer: conn.send(("step", kind, answer)))
        conn.send(("done", grades))


@dataclass
class _Worker:
    process: Any
    conn: Connection
    job: int | None = None
    killed: frozenset = frozenset()
    step: tuple[str, str] | None = None
    since: float = 0.0


def _start_worker(context) -> _Worker:
    parent, child = context.Pipe()
    process = context.Process(target=_worker_loop, args=(child,), daemon=True)
    process.start()
    child.close()
    return _Worker(process=process, conn=parent)


@dataclass
class SupervisedResult:
    grades: dict[str, list[Grade]]
    kills: list[Kill] = field(default_factory=list)


def grade_supervised(jobs: Sequence[ProblemJob], *, workers: int, step_limit_s: float = STEP_LIMIT_S,
                     on_done: Callable[[ProblemJob], None] | None = None) -> SupervisedResult:
    """Grade every job in `workers` processes, killing any step that runs past step_limit_s."""
    context = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    pending: deque[tuple[int, frozenset]] = deque((i, frozenset()) for i in range(len(jobs)))
    result = SupervisedResult(grades={})
    pool = [_start_worker(context) for _ in range(max(1, min(workers, len(jobs))))]
    try:
        while pending or any(w.job is not None for w in pool):
            for w in pool:
                if w.job is None and pending:
                    w.job, w.killed = pending.popleft()
                    w.step, w.since = None, time.monotonic()
                    w.conn.send((jobs[w.job], w.killed))
            busy = [w for w in pool if w.job is not None]
            now = time.monotonic()
            timeout = max(0.0, min(w.since + step_limit_s - now for w in busy))
            for conn in wait([w.conn for w in busy], timeout=timeout):
                w = next(w for w in busy if w.conn is conn)
                message: tuple[Any, ...]
                try:
                    message = w.conn.recv()
                except EOFError:  # the worker died on its own (e.g. out of memory): blame its step
                    message = ("died",)
                if message[0] == "step":
                    w.step, w.since = (message[1], message[2]), time.monotonic()
                elif message[0] == "done":
                    job = jobs[w.job]  # type: ignore[index]
                    result.grades[job.problem_id] = message[1]
                    w.job = None
                    if on_done is not None:
                        on_done(job)
                else:
                    _replace(pool, w, context, pending, result, jobs, time.monotonic() - w.since)
            now = time.monotonic()
            for w in [w for w in pool if w.job is not None and now - w.since > step_limit_s]:
                _replace(pool, w, context, pending, result, jobs, now - w.since)
    finally:
        for w in pool:
            if w.job is None and w.process.is_alive():
                w.conn.send(None)
            else:
                w.process.kill()
            w.process.join(timeout=5)
    return result


def _replace(pool: list[_Worker], w: _Worker, context, pending, result: SupervisedResult,
             jobs: Sequence[ProblemJob], seconds: float) -> None:
    """Kill a stuck (or dead) worker, record what it was on, requeue its job, start a fresh worker."""
    w.process.kill()
    w.process.join(timeout=5)
    job = jobs[w.job]  # type: ignore[index]
    kind, answer = w.step or ("extract", "")  # stuck before its first message: starting up
    result.kills.append(Kill(problem_id=job.problem_id, step=kind,
                             answer="(reference)" if answer == GOLD else answer[:200],
                             seconds=round(seconds, 1)))
    if kind == "extract" or (kind, answer) in w.killed:
        # no step to skip would let this job progress: every candidate is a grader error
        result.grades[job.problem_id] = [
            Grade(problem_id=job.problem_id, index=i, verdict="error", correct=None, answer=None,
                  cluster=None, detail=f"grading killed at the time limit ({kind})") for i in job.indices]
    else:
        pending.appendleft((w.job, w.killed | {(kind, answer)}))
    w.job = None
    pool[pool.index(w)] = _start_worker(context)
