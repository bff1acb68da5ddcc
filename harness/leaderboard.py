"""Leaderboard over run records: results/leaderboard.md and results/leaderboard.csv.

One section per (task, task version, grader version, selection protocol): numbers from different
task or grader versions, or from different protocols (harness/selectors/protocols.py), are never
put in one table. Within a section the newest run of each
(pool, selector, mode) wins. The oracle is labelled as an upper bound.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Iterable

import numpy as np

from harness.settings import Settings
from harness.store import RunRecord, load_runs


@dataclass(frozen=True)
class BoardRow:
    """One leaderboard line: a run at one N (the CSV's columns, in order)."""

    task: str
    task_version: str
    grader_version: str
    generator: str  # the pool's label
    pool: str
    selector: str
    label: str  # display name: checkpoint and "(upper bound)" rendered by SelectorInfo.label
    checkpoint: str | None
    upper_bound: bool
    mode: str
    protocol: str  # selection rules the run used (harness or nemo-skills)
    n: int
    accuracy: float
    ci_low: float
    ci_high: float
    problems: int
    run: str  # the run folder's name
    created: str
    mc_se: float = 0.0  # Monte-Carlo standard error of the accuracy (LLM selectors: from their draws)
    vs_majority: float | None = None  # paired difference to majority on the same pool, mode and N
    vs_majority_low: float | None = None
    vs_majority_high: float | None = None
    vs_genselect: float | None = None  # rl-genselect only: paired difference to prompted genselect
    vs_genselect_low: float | None = None
    vs_genselect_high: float | None = None
    grader_errors: int = 0  # candidates of the pool the grader could not decide (never scored wrong)
    generation_tokens: float | None = None  # per problem: sampling N candidates (NPoint)
    selection_tokens: float = 0.0  # per problem: the judge's prompt + completion tokens to pick one


# Which baseline each selector is compared with, paired over problems (the subsets are shared).
CONTRASTS = (("majority", lambda name: name != "majority"),
             ("genselect", lambda name: name == "rl-genselect"))


def contrast_baselines(info) -> list[str]:
    """The baselines a selector's row is paired with (none for upper bounds)."""
    return [] if info.upper_bound else [b for b, applies in CONTRASTS if applies(info.name)]


def leaderboard_rows(records: Iterable[RunRecord]) -> list[BoardRow]:
    """One row per (run, N), keeping only the newest run of each (task, versions, pool, selector,
    mode, protocol, checkpoint): two trained checkpoints are two selectors, each with its row."""
    newest: dict[tuple, RunRecord] = {}
    for record in records:  # oldest first, so later runs replace earlier ones
        d = record.info
        key = (d.task.name, d.task.version, d.task.grader_version, d.pool.ref, record.selector, d.mode,
               d.protocol, d.selector.checkpoint)
        newest[key] = record
    per_problem = PerProblem()
    rows = []
    for key, record in newest.items():
        d = record.info
        for point in record.summary:
            contrasts = {}
            for baseline in contrast_baselines(d.selector):
                other = newest.get((*key[:4], baseline, *key[5:7], None))  # baselines have no checkpoint
                if other is not None:
                    contrasts[baseline] = per_problem.paired(record, other, point.n)
            rows.append(BoardRow(
                task=d.task.name, task_version=d.task.version, grader_version=d.task.grader_version,
                generator=d.pool.label, pool=d.pool.ref, selector=d.selector.name, label=d.selector.label(),
                checkpoint=d.selector.checkpoint, upper_bound=d.selector.upper_bound, mode=d.mode,
                protocol=d.protocol, n=point.n,
                accuracy=point.accuracy, ci_low=point.ci_low, ci_high=point.ci_high, problems=d.problems,
                run=record.path.name, created=d.created, mc_se=point.mc_se,
                grader_errors=int(d.grading.get("errors", 0)),
                generation_tokens=point.generation_tokens, selection_tokens=point.selection_tokens,
                **{f"vs_{b}{part}": value for b, diff in contrasts.items() if diff is not None
                   for part, value in (("", diff.mean), ("_low", diff.low), ("_high", diff.high))}))
    return rows


class PerProblem:
    """Per-problem accuracies of runs (problems.jsonl), read once; paired differences between runs."""

    def __init__(self) -> None:
        self._cache: dict[str, dict[tuple[int, str], float]] = {}

    def values(self, record: RunRecord) -> dict[tuple[int, str], float]:
        if record.run_id not in self._cache:
            self._cache[record.run_id] = {(row["n"], row["problem_id"]): row["accuracy"]
                                          for row in record.problems()}
        return self._cache[record.run_id]

    def paired(self, a: RunRecord, b: RunRecord, n: int):
        from harness.estimators import paired_difference

        va, vb = self.values(a), self.values(b)
        shared = sorted(pid for (m, pid) in va if m == n and (n, pid) in vb)
        if not shared:
            return None
        return paired_difference(np.array([va[(n, p)] for p in shared]),
                                 np.array([vb[(n, p)] for p in shared]), resamples=2000, seed=0)


def render_markdown(rows: list[BoardRow], n: int | None = None) -> str:
    """Markdown tables, one per task/version; each run shown at `n` (default: its largest N)."""
    if not rows:
        return "# Leaderboard\n\nNo runs yet. Try `python -m harness run --help`.\n"
    sections: dict[tuple, list[BoardRow]] = {}
    for row in rows:
        sections.setdefault((row.task, row.task_version, row.grader_version, row.protocol), []).append(row)
    out = ["# Leaderboard", "",
           "Accuracy (%) of each selector's pick, expectation over N-subsets of the pool, 95% bootstrap CI "
           "over problems. Rows marked (upper bound) are oracles, not selectors.", ""]
    for (task, version, grader, rules), section in sorted(sections.items()):
        by_run: dict[str, list[BoardRow]] = {}
        for row in section:
            by_run.setdefault(row.run, []).append(row)
        shown = []
        for run_rows in by_run.values():
            shown.extend([r for r in run_rows if r.n == n] if n is not None
                         else [max(run_rows, key=lambda r: r.n)])
        if not shown:
            continue
        shown.sort(key=lambda r: (r.generator, r.mode, r.n, r.upper_bound, -r.accuracy))
        out += [f"## {task} (task v{version}, grader {grader}, {rules} protocol)", "",
                "| Generator | Selector | Mode | N | Accuracy | 95% CI | MC s.e. | Δ vs majority (95% CI) "
                "| Problems | Grader errors | Run |",
                "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in shown:
            out.append(f"| {r.generator} | {r.label} | {r.mode} | {r.n} | {100 * r.accuracy:.2f} | "
                       f"{100 * r.ci_low:.1f}–{100 * r.ci_high:.1f} | {_se(r)} | {_contrasts(r)} | "
                       f"{r.problems} | {r.grader_errors} | {r.run} |")
        out.append("")
    return "\n".join(out)


def _se(row: BoardRow) -> str:
    return f"{100 * row.mc_se:.2f}" if row.mc_se else "–"


def _contrasts(row: BoardRow) -> str:
    parts = []
    for name, mean, low, high in (("", row.vs_majority, row.vs_majority_low, row.vs_majority_high),
                                  ("vs genselect ", row.vs_genselect, row.vs_genselect_low,
                                   row.vs_genselect_high)):
        if mean is not None and low is not None and high is not None:
            parts.append(f"{name}{100 * mean:+.1f} ({100 * low:+.1f}…{100 * high:+.1f})")
    return "; ".join(parts) or "–"


def write_csv(rows: list[BoardRow], path: Path) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([f.name for f in fields(BoardRow)])
        for row in sorted(rows, key=lambda r: (r.task, r.pool, r.selector, r.mode, r.n)):
            writer.writerow(astuple(row))
    tmp.replace(path)


def refresh_leaderboard(settings: Settings, n: int | None = None) -> tuple[Path, Path]:
    rows = leaderboard_rows(load_runs(settings.runs_dir))
    md_path = settings.results_dir / "leaderboard.md"
    csv_path = settings.results_dir / "leaderboard.csv"
    md_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = md_path.with_name(".leaderboard.md.tmp")
    tmp.write_text(render_markdown(rows, n), encoding="utf-8")
    tmp.replace(md_path)
    write_csv(rows, csv_path)
    return md_path, csv_path
