"""`compare`: the same selectors on pools from several generators, side by side.

Each pool is evaluated with one RunConfig that differs only in the pool (same seed, so the same
subsets wherever pool sizes agree), then one markdown table (selectors x generators, at a
common N) and one figure (a scaling panel per generator, shared y axis) are written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from harness.config import CompareConfig
from harness.errors import ConfigError
from harness.pools import slugify
from harness.run import RunOutcome, run
from harness.settings import Settings


@dataclass(frozen=True)
class Comparison:
    table: str
    plot: Path
    outcomes: tuple[RunOutcome, ...]


def compare(config: CompareConfig, settings: Settings, log=None) -> Comparison:
    """Run every pool with the same options, then write one table and one figure.

    The leaderboard is refreshed once at the end, not after each pool's run.
    """
    if len(config.pools) < 2:
        raise ConfigError("compare needs at least two pools: --pools A,B")
    outcomes = tuple(run(config.run_config(pool), settings, log=log, refresh_leaderboard=False)
                     for pool in config.pools)
    from harness.leaderboard import refresh_leaderboard

    refresh_leaderboard(settings)
    common = set.intersection(*({p.n for r in o.records for p in r.summary} for o in outcomes))
    if not common:
        raise ConfigError("the pools share no N value; pass --n with values every pool supports")
    at = config.at if config.at is not None else max(common)
    if at not in common:
        raise ConfigError(f"--at {at}: N={at} was not evaluated on every pool (common: {sorted(common)})")
    table = _table(outcomes, at)
    out = Path(config.out) if config.out else settings.plots_dir / f"compare_{slugify(config.task)}.png"
    path = _plot(outcomes, config.task, out)
    return Comparison(table=table, plot=path, outcomes=outcomes)


def _label(outcome: RunOutcome) -> str:
    return outcome.pool.label


def _table(outcomes: Sequence[RunOutcome], n: int) -> str:
    from harness.leaderboard import PerProblem, contrast_baselines

    selectors = [r.selector for r in outcomes[0].records]
    head = "| Selector | " + " | ".join(_label(o) for o in outcomes) + " |"
    lines = [f"Accuracy (%) at N = {n}, 95% bootstrap CI over problems; Δ = paired difference to the "
             "baseline on the same problems and subsets (95% CI)", "", head, "|---|" + "---|" * len(outcomes)]
    per_problem = PerProblem()
    for name in selectors:
        cells = []
        for outcome in outcomes:
            by = {r.selector: r for r in outcome.records}
            point = by[name].point(n)
            cell = f"{100 * point.accuracy:.2f} ({100 * point.ci_low:.1f}–{100 * point.ci_high:.1f})"
            for baseline in (b for b in contrast_baselines(by[name].info.selector) if b in by):
                diff = per_problem.paired(by[name], by[baseline], n)
                if diff is not None:
                    cell += (f"; Δ {baseline} {100 * diff.mean:+.1f} "
                             f"({100 * diff.low:+.1f}…{100 * diff.high:+.1f})")
            cells.append(cell)
        label = outcomes[0].records[selectors.index(name)].info.selector.label()
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _plot(outcomes: Sequence[RunOutcome], task: str, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(outcomes), figsize=(4.2 * len(outcomes), 4), dpi=110, sharey=True,
                             squeeze=False)
    for ax, outcome in zip(axes[0], outcomes):
        for record in outcome.records:
            ns = [p.n for p in record.summary]
            acc = [100 * p.accuracy for p in record.summary]
            style = "k--" if record.info.selector.upper_bound else "-o"
            line, = ax.plot(ns, acc, style, ms=3, label=record.info.selector.label())
            ax.fill_between(ns, [100 * p.ci_low for p in record.summary],
                            [100 * p.ci_high for p in record.summary], color=line.get_color(), alpha=0.12)
        ax.set_xscale("log", base=2)
        all_ns = sorted({p.n for r in outcome.records for p in r.summary})
        ax.set_xticks(all_ns if len(all_ns) <= 12 else [n for n in all_ns if n & (n - 1) == 0])
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_title(f"generator: {_label(outcome)}", fontsize=9)
        ax.set_xlabel("N")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy (%)")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{task}: selectors across generators (95% CI over problems)", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
