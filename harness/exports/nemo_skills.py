"""Export a run as NeMo-Skills evaluation files, so NeMo-Skills' own summarising step can read it.

NeMo-Skills evaluates a benchmark as k sampled runs, `output-rs<seed>.jsonl` (seed 0..k-1), where
line i of every file is problem i. Its math metrics read `predicted_answer` and
`symbolic_correct` of each line and compute `pass@1[avg-of-k]` (mean over the k files),
`majority@k` (exact-string vote over the first k predicted answers, no-answer lines dropped,
ties scored as the mean correctness of the tied answers) and `pass@k` (the unbiased estimator over
all files). So the generator's candidates are written as k files, candidate j of each problem in
file j (the paper protocol's fixed first N), with the harness's own verdict as
`symbolic_correct` and, as `predicted_answer`, the exact last-`\\boxed{}` string the
nemo-skills protocol's majority counts.

A GenSelect run (genselect, usc, rl-genselect) is, in NeMo-Skills, its own evaluation: each
selection run writes an `output-rs<seed>.jsonl` whose `generation` is the chosen solution.
`genselect/output-rs<r>.jsonl` holds the harness's selection of paper run r, with the choice
(`genselect_choice`, the candidate index), the judge's last output (`genselect_comparison`) and
`genselect_successful` (no parse failure); a choice spread over several candidates (a fallback,
or tied winners) is resolved by a seeded draw, recorded in `genselect_choice_weight`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import ConfigError
from harness.grades import load_or_grade
from harness.grading.math_answers import final_segment, last_boxed_exact
from harness.jsonl import read_records, write_plain_atomic
from harness.plugins import load_task
from harness.pools import PoolStore
from harness.settings import Settings
from harness.store import RunRecord


@dataclass(frozen=True)
class NemoExport:
    folder: Path  # the generation files (output-rs*.jsonl)
    files: tuple[Path, ...]
    genselect_files: tuple[Path, ...] = ()  # <folder>/genselect/output-rs*.jsonl for judge selectors


def export_nemo_skills(record: RunRecord, settings: Settings, out: Path) -> NemoExport:
    """Write the run's candidates (and its selections, for a judge selector) as NeMo-Skills files."""
    info = record.info
    if info.mode != "paper":
        raise ConfigError(f"run {record.path.name} is a subsets run; NeMo-Skills files describe the paper "
                          "protocol's fixed first N candidates: rerun with --paper and export that run")
    n = max(point.n for point in info.summary)
    task = load_task(info.task.loadable, settings)
    pool = PoolStore(settings.pools_dir).resolve(info.pool.ref, task=task.name)
    candidates = pool.candidates()
    evaluated = {row["problem_id"] for row in record.problems()}
    problems = [p for p in task.problems() if p.id in evaluated]
    grades, _ = load_or_grade(pool, task.grader(), problems, task.references(), candidates, progress=False)
    references = task.references()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for j in range(n):
        rows = [_line(p.statement, candidates[p.id][j], grades[p.id][j], references[p.id].answer)
                for p in problems]
        files.append(write_plain_atomic(out / f"output-rs{j}.jsonl", rows))
    picked = _genselect_files(record, problems, candidates, grades, references, out / "genselect")
    return NemoExport(out, tuple(files), picked)


def _line(statement: str, candidate, grade, expected) -> dict:
    return {"problem": statement, "generation": candidate.text, "expected_answer": expected,
            "predicted_answer": last_boxed_exact(final_segment(candidate.text)),
            "symbolic_correct": bool(grade.correct), "num_generated_tokens": candidate.completion_tokens or 0}


def _genselect_files(record: RunRecord, problems, candidates, grades, references,
                     folder: Path) -> tuple[Path, ...]:
    path = record.path / "selections.jsonl"
    if not path.exists():
        return ()
    _, rows = read_records(path, "selections")
    by_run: dict[int, dict[str, dict]] = {}
    for row in rows:
        by_run.setdefault(row["draw"], {})[row["problem_id"]] = row
    files = []
    for draw, selections in sorted(by_run.items()):
        lines = []
        for problem in problems:
            row = selections[problem.id]
            choice = {int(k): v for k, v in row["choice"].items()}
            pick = _resolve(choice, draw, problem.id)
            line = _line(problem.statement, candidates[problem.id][pick], grades[problem.id][pick],
                         references[problem.id].answer)
            calls = row["calls"]
            line.update(genselect_choice=pick, genselect_choice_weight=choice[pick],
                        genselect_comparison=calls[-1]["raw"] if calls else "",
                        genselect_successful=row["fallbacks"] == 0)
            lines.append(line)
        files.append(write_plain_atomic(folder / f"output-rs{draw}.jsonl", lines))
    return tuple(files)


def _resolve(choice: dict[int, float], draw: int, problem_id: str) -> int:
    if len(choice) == 1:
        return next(iter(choice))
    from harness.estimators import problem_stream

    members = sorted(choice)
    rng = np.random.default_rng([problem_stream(problem_id), draw, 23])
    return int(rng.choice(members, p=np.array([choice[m] for m in members]) / sum(choice.values())))
