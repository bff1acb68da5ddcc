"""What an LLM judge follows: surface cues of its picks, from a run's selections.jsonl.

For every judge call whose verdict parsed, compare the candidate it named with the window it
was shown. A cue is a yes/no property of a candidate (shown first, shown last, the longest
text, in the window's largest answer cluster, has an extracted answer, cut off at the token
budget, correct). For each cue the table gives how often the pick has it and how often a
uniformly random pick from the same windows would (the mean share of the window that has it):
a judge that ignores a cue picks it at the random rate, one that follows it picks it more often.
Position preference is the whole distribution of the named position, against 1/window.

Everything is read back from files the run wrote (selections.jsonl, the pool, its cached
grades): no model is loaded and nothing is regraded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from harness.errors import DataError
from harness.jsonl import read_records
from harness.records import SelectionRow
from harness.settings import Settings
from harness.store import RunRecord

CUE_NAMES = ("shown first", "shown last", "longest text", "shortest text", "in the largest answer cluster",
             "has an answer", "cut off at the budget", "correct")


@dataclass(frozen=True)
class Shown:
    """One candidate as the judge saw it."""

    chars: int
    cluster: int | None
    has_answer: bool
    truncated: bool
    correct: bool


@dataclass(frozen=True)
class Cue:
    name: str
    picked: float  # share of picks that have the cue
    random: float  # share a uniformly random pick from the same windows would have
    calls: int  # parsed calls the row is over

    @property
    def lift(self) -> float:
        return self.picked - self.random


@dataclass(frozen=True)
class CueReport:
    run: str
    selector: str
    label: str
    generator: str  # the pool's label: whose candidates the judge chose among
    calls: int  # judge calls read
    parsed: int  # of them, with a verdict
    cues: tuple[Cue, ...]
    positions: tuple[tuple[int, int, tuple[float, ...]], ...]  # (window size, calls, P(named position k))

    def markdown(self) -> str:
        lines = [f"### {self.label} on {self.generator}'s candidates (run {self.run})", "",
                 f"{self.parsed} of {self.calls} judge calls parsed.", "",
                 "| cue | judge picks it | a random pick would | lift |", "|---|---|---|---|"]
        lines += [f"| {c.name} | {c.picked:.3f} | {c.random:.3f} | {c.lift:+.3f} |" for c in self.cues]
        lines += ["", "| window | calls | P(named position 0..k-1) | uniform |", "|---|---|---|---|"]
        for size, count, dist in self.positions:
            lines.append(f"| {size} | {count} | {' '.join(f'{p:.2f}' for p in dist)} | {1 / size:.2f} |")
        return "\n".join(lines) + "\n"


def _window_cues(window: Sequence[Shown]) -> dict[str, list[bool]]:
    """Per cue, which members of the window have it."""
    lengths = [s.chars for s in window]
    clusters = [s.cluster for s in window]
    sizes = {c: clusters.count(c) for c in clusters if c is not None}
    largest = max(sizes.values(), default=0)
    k = len(window)
    return {
        "shown first": [i == 0 for i in range(k)],
        "shown last": [i == k - 1 for i in range(k)],
        "longest text": [n == max(lengths) for n in lengths],
        "shortest text": [n == min(lengths) for n in lengths],
        "in the largest answer cluster": [c is not None and sizes[c] == largest for c in clusters],
        "has an answer": [s.has_answer for s in window],
        "cut off at the budget": [s.truncated for s in window],
        "correct": [s.correct for s in window],
    }


def cue_table(selections: Sequence[SelectionRow], shown: Mapping[str, Sequence[Shown]]
              ) -> tuple[list[Cue], dict[int, list[float]], dict[int, int], int, int]:
    """Cues and position preference over every parsed call of these selections."""
    picked = {name: 0.0 for name in CUE_NAMES}
    random = {name: 0.0 for name in CUE_NAMES}
    positions: dict[int, list[float]] = {}
    calls = parsed = 0
    for row in selections:
        members = shown.get(row.problem_id)
        if members is None:
            raise DataError(f"selections name problem {row.problem_id!r}, which the pool does not hold")
        for call in row.calls:
            calls += 1
            if call.parsed is None:
                continue
            parsed += 1
            window = [members[i] for i in call.window]
            flags = _window_cues(window)
            for name, has in flags.items():
                picked[name] += has[call.parsed]
                random[name] += sum(has) / len(has)
            positions.setdefault(len(window), [0.0] * len(window))[call.parsed] += 1
    counts = {size: int(sum(dist)) for size, dist in positions.items()}
    cues = [Cue(name, picked[name] / parsed if parsed else float("nan"),
                random[name] / parsed if parsed else float("nan"), parsed) for name in CUE_NAMES]
    dists = {size: [x / counts[size] for x in dist] for size, dist in positions.items()}
    return cues, dists, counts, calls, parsed


def shown_candidates(record: RunRecord, settings: Settings) -> dict[str, list[Shown]]:
    """Each problem's candidates as judges saw them, from the run's pool and its cached grades."""
    from harness.grades import load_or_grade
    from harness.plugins import load_task
    from harness.pools import PoolStore

    task = load_task(record.info.task.loadable, settings)
    pool = PoolStore(settings.pools_dir).resolve(record.info.pool.ref)
    candidates = pool.candidates()
    problems = [p for p in task.problems() if p.id in candidates]
    grades, _ = load_or_grade(pool, task.grader(), problems, task.references(), candidates, progress=False)
    out = {}
    for problem in problems:
        out[problem.id] = [Shown(chars=len(c.text), cluster=g.cluster, has_answer=g.answer is not None,
                                 truncated=c.finish_reason == "length", correct=bool(g.correct))
                           for c, g in zip(candidates[problem.id], grades[problem.id])]
    return out


def read_selections(record: RunRecord) -> list[SelectionRow]:
    path = record.path / "selections.jsonl"
    if not path.is_file():
        raise DataError(f"run {record.path.name} has no selections.jsonl (only LLM selectors write one)")
    _, rows = read_records(path, "selections")
    return [SelectionRow.model_validate({k: v for k, v in row.items() if k != "_line"}) for row in rows]


def analyze_run(record: RunRecord, settings: Settings) -> CueReport:
    shown = shown_candidates(record, settings)
    cues, dists, counts, calls, parsed = cue_table(read_selections(record), shown)
    return CueReport(run=record.path.name, selector=record.info.selector.name,
                     label=record.info.selector.label(), generator=record.info.pool.label,
                     calls=calls, parsed=parsed, cues=tuple(cues),
                     positions=tuple((size, counts[size], tuple(dists[size])) for size in sorted(dists)))


def write_cue_report(reports: Sequence[CueReport], out: Path, title: str) -> Path:
    from harness.jsonl import write_text_atomic

    text = [f"# {title}", "", __doc__.split("\n\n")[1].replace("\n", " "), ""]
    text += [r.markdown() for r in reports]
    write_text_atomic(out, "\n".join(text))
    return out
