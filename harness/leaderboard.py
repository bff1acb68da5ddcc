"""Leaderboard over run records: results/leaderboard.md and results/leaderboard.csv.

One section per (task, task version, grader version): numbers from different task or grader
versions are never put in one table. Within a section the newest run of each
(pool, selector, mode) wins. The oracle is labelled as an upper bound.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from harness.settings import Settings
from harness.store import RunRecord, load_runs


def leaderboard_rows(records: Iterable[RunRecord]) -> list[dict]:
    """One row per (run, N), keeping only the newest run of each (task, versions, pool, selector, mode)."""
    newest: dict[tuple, RunRecord] = {}
    for record in records:  # oldest first, so later runs replace earlier ones
        d = record.data
        key = (d["task"]["name"], d["task"]["version"], d["task"]["grader_version"], d["pool"]["ref"],
               record.selector, d["mode"])
        newest[key] = record
    rows = []
    for record in newest.values():
        d = record.data
        for point in record.summary:
            rows.append({
                "task": d["task"]["name"], "task_version": d["task"]["version"],
                "grader_version": d["task"]["grader_version"], "generator": d["pool"]["label"],
                "pool": d["pool"]["ref"], "selector": record.selector,
                "checkpoint": d["selector"].get("checkpoint"),
                "upper_bound": bool(d["selector"].get("upper_bound")), "mode": d["mode"],
                "n": point["n"], "accuracy": point["accuracy"], "ci_low": point["ci_low"],
                "ci_high": point["ci_high"], "problems": d["problems"], "run": record.path.name,
                "created": d["created"]})
    return rows


def _label(row: dict) -> str:
    name = row["selector"]
    if row.get("checkpoint"):
        name += f" [{row['checkpoint']}]"
    return name + (" (upper bound)" if row["upper_bound"] else "")


def render_markdown(rows: list[dict], n: int | None = None) -> str:
    """Markdown tables, one per task/version; each run shown at `n` (default: its largest N)."""
    if not rows:
        return "# Leaderboard\n\nNo runs yet. Try `python -m harness run --help`.\n"
    sections: dict[tuple, list[dict]] = {}
    for row in rows:
        sections.setdefault((row["task"], row["task_version"], row["grader_version"]), []).append(row)
    out = ["# Leaderboard", "",
           "Accuracy (%) of each selector's pick, expectation over N-subsets of the pool, 95% bootstrap CI "
           "over problems. Rows marked (upper bound) are oracles, not selectors.", ""]
    for (task, version, grader), section in sorted(sections.items()):
        by_run: dict[str, list[dict]] = {}
        for row in section:
            by_run.setdefault(row["run"], []).append(row)
        shown = []
        for run_rows in by_run.values():
            pick = [r for r in run_rows if r["n"] == n] if n is not None else \
                [max(run_rows, key=lambda r: r["n"])]
            shown.extend(pick)
        if not shown:
            continue
        shown.sort(key=lambda r: (r["generator"], r["mode"], r["n"], r["upper_bound"], -r["accuracy"]))
        out += [f"## {task} (task v{version}, grader {grader})", "",
                "| Generator | Selector | Mode | N | Accuracy | 95% CI | Problems | Run |",
                "|---|---|---|---|---|---|---|---|"]
        for r in shown:
            out.append(f"| {r['generator']} | {_label(r)} | {r['mode']} | {r['n']} | {100 * r['accuracy']:.2f} | "
                       f"{100 * r['ci_low']:.1f}–{100 * r['ci_high']:.1f} | {r['problems']} | {r['run']} |")
        out.append("")
    return "\n".join(out)


def write_csv(rows: list[dict], path: Path) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    fields = ["task", "task_version", "grader_version", "generator", "pool", "selector", "checkpoint",
              "upper_bound", "mode", "n", "accuracy", "ci_low", "ci_high", "problems", "run", "created"]
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: (r["task"], r["pool"], r["selector"], r["mode"], r["n"])))
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
