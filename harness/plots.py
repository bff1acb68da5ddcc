"""N-scaling plots: accuracy vs N (log2 axis), one line + CI band per selector.

The oracle (pass@N) is drawn as a dashed envelope and pass@1 (the `first` selector, or its
value at N = 1) as a dotted horizontal reference, so every selector sits between the two.

The compute-matched plot (`plot_compute`, `harness plot --cost`) puts the same points at the
tokens they cost per problem: generating N candidates plus the selector's own judge tokens
(prompt + completion; 0 for voting), so a judge that reads N long solutions pays for it.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import DataError
from harness.leaderboard import BoardRow, leaderboard_rows
from harness.pools import slugify
from harness.settings import Settings
from harness.store import load_runs


class NothingToPlotError(DataError, ValueError):
    pass


def scaling_series(rows: list[BoardRow], task: str, pool: str | None,
                   mode: str = "subsets") -> dict[str, list[BoardRow]]:
    chosen = [r for r in rows
              if r.task == task and r.mode == mode and (pool is None or pool in (r.pool, r.generator))]
    pools = sorted({r.pool for r in chosen})
    if not chosen:
        raise NothingToPlotError(f"no {mode} runs for task {task!r}{f' and pool {pool!r}' if pool else ''}")
    if len(pools) > 1:
        raise NothingToPlotError(f"task {task!r} has runs on several pools ({', '.join(pools)}); "
                                 "pick one with --pool")
    series: dict[str, list[BoardRow]] = {}
    for row in chosen:
        series.setdefault(row.label, []).append(row)
    return {name: sorted(points, key=lambda r: r.n) for name, points in series.items()}


def plot_scaling(settings: Settings, task: str, pool: str | None = None, out: Path | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # headless: CI and clusters have no display
    import matplotlib.pyplot as plt

    rows = leaderboard_rows(load_runs(settings.runs_dir))
    series = scaling_series(rows, task, pool)
    any_row = next(iter(series.values()))[0]
    all_ns = sorted({r.n for points in series.values() for r in points})
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for name, points in sorted(series.items()):
        ns = [p.n for p in points]
        acc = [100 * p.accuracy for p in points]
        lo = [100 * p.ci_low for p in points]
        hi = [100 * p.ci_high for p in points]
        if points[0].upper_bound:
            ax.plot(ns, acc, "k--", lw=1.5, label=f"{name} pass@N")
            ax.fill_between(ns, lo, hi, color="k", alpha=0.08)
        elif points[0].selector == "first":
            ax.axhline(acc[0], color="grey", ls=":", lw=1.5, label=f"pass@1 ({acc[0]:.1f})")
        else:
            line, = ax.plot(ns, acc, marker="o", ms=3, lw=1.5, label=name)
            ax.fill_between(ns, lo, hi, color=line.get_color(), alpha=0.15)
    ax.set_xscale("log", base=2)
    ax.set_xticks(all_ns if len(all_ns) <= 12 else [n for n in all_ns if n & (n - 1) == 0])
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    title = (f"{task}: accuracy vs N, generator {any_row.generator}, N = {all_ns[0]}..{all_ns[-1]}\n"
             f"{any_row.problems} problems, 95% bootstrap CI over problems")
    out = out or settings.plots_dir / f"scaling_{slugify(task)}_{slugify(any_row.generator)}.png"
    return _save(fig, ax, "N (candidates shown to the selector)", title, out)


def _save(fig, ax, xlabel: str, title: str, out: Path) -> Path:
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best", framealpha=0.8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_compute(settings: Settings, task: str, pool: str | None = None, out: Path | None = None) -> Path:
    """Accuracy against total tokens per problem (generation of N + selection), one line per selector."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = leaderboard_rows(load_runs(settings.runs_dir))
    series = scaling_series(rows, task, pool)
    if any(r.generation_tokens is None for points in series.values() for r in points):
        raise NothingToPlotError(f"the pool of task {task!r} records no token counts (an import without "
                                 "them): a compute-matched plot needs the generation cost")
    any_row = next(iter(series.values()))[0]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for name, points in sorted(series.items()):
        cost = [(p.generation_tokens or 0.0) + p.selection_tokens for p in points]
        acc = [100 * p.accuracy for p in points]
        if points[0].upper_bound:
            line, = ax.plot(cost, acc, "k--", lw=1.5, label=f"{name} pass@N")
        else:
            line, = ax.plot(cost, acc, marker="o", ms=3, lw=1.5, label=name)
        for p, x, y in zip(points, cost, acc):
            ax.annotate(f"N={p.n}", (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points",
                        color=line.get_color())
    ax.set_xscale("log", base=2)
    title = (f"{task}: compute-matched accuracy, generator {any_row.generator}\n"
             f"{any_row.problems} problems; judge tokens = prompt + completion")
    out = out or settings.plots_dir / f"compute_{slugify(task)}_{slugify(any_row.generator)}.png"
    return _save(fig, ax, "tokens per problem (generation of N candidates + selection)", title, out)
