"""Import candidates made elsewhere into pools: `import_pool(store, task, paths, fmt)`.

Formats (harness/importers/<name>.py documents each):
  harness-jsonl  shared/data/pools/*/*.jsonl (problem_id, model, sample_index, response, ...)
  nemo-skills    NeMo-Skills generation outputs, output-rs<seed>.jsonl, one file per seed
  lm-eval        `lm_eval --log_samples` samples_<task>_<date>.jsonl, repeats in "resps"
  auto           detected per file (file name, then the fields of its first record)

Every file is read and validated before anything is written, so a malformed line (an error
naming file, line and field) leaves the pools untouched. Pools only grow: a repeated import
writes nothing, a larger one appends only the new candidates. Input problems the task does not
have are reported, never silently dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from harness.errors import MissingFileError
from harness.importers import harness_jsonl, lm_eval, nemo_skills
from harness.importers.common import (
    ImportFormatError,
    Parsed,
    ProblemMatcher,
    ReadResult,
    identity,
    identity_sort_key,
    iter_objects,
)
from harness.pools import Pool, PoolStore
from harness.types import Candidate

__all__ = ["FORMATS", "ImportFormatError", "ImportReport", "detect_format", "import_pool"]

READERS: dict[str, Callable[..., ReadResult]] = {
    harness_jsonl.FORMAT: harness_jsonl.read,
    nemo_skills.FORMAT: nemo_skills.read,
    lm_eval.FORMAT: lm_eval.read,
}
FORMATS = ("auto", *READERS)


@dataclass(frozen=True)
class ImportReport:
    pools: tuple[str, ...]  # pool.ref of every pool written or updated
    written: int  # new candidate lines appended (0 on a repeated import)
    skipped_existing: int  # candidates read that the pool already held
    unmatched_problems: tuple[str, ...]  # input problems (ids, or "text:...") the task lacks
    task_problems_missing: int  # task problems with no candidates in the input
    nonfinite_scores: int = 0  # NaN / inf scores in the input, kept as missing (no score)

    def describe(self) -> str:
        where = ", ".join(self.pools) or "no pool"
        parts = [f"Imported {self.written} new candidate{'s' if self.written != 1 else ''} into "
                 f"{len(self.pools)} pool{'s' if len(self.pools) != 1 else ''} ({where})"]
        if self.skipped_existing:
            parts.append(f"{self.skipped_existing} already in the pool were skipped")
        if self.unmatched_problems:
            shown = ", ".join(self.unmatched_problems[:5]) + (
                " ..." if len(self.unmatched_problems) > 5 else "")
            parts.append(f"{len(self.unmatched_problems)} problems in the input are not in the task and "
                         f"were not imported ({shown})")
        if self.task_problems_missing:
            parts.append(f"{self.task_problems_missing} task problems have no candidates in the input")
        if self.nonfinite_scores:
            parts.append(f"{self.nonfinite_scores} non-finite scores (NaN/inf) were kept as missing")
        return "; ".join(parts) + "."


def import_pool(store: PoolStore, task: Any, paths: Sequence[Path | str], fmt: str = "auto", *,
                model: str | None = None, split_by_model: bool = False,
                label: str | None = None) -> ImportReport:
    """Import candidate files into pools of `task` under `store`; see the module docstring.

    model: the generating model's name (nemo-skills and lm-eval files do not carry one; for
    harness-jsonl it fills rows without "model"). split_by_model: harness-jsonl with several
    models makes one pool per model instead of one cross-model pool (one model in the input
    always gives that model's own pool, index = sample_index). label: the pool's directory name
    (default: the model name, or "cross-model"; not used when several per-model pools result).
    """
    if fmt not in FORMATS:
        raise ImportFormatError(f"unknown import format {fmt!r}; known: {', '.join(FORMATS)}")
    files = _expand([Path(p) for p in paths])
    groups: dict[str, list[Path]] = {}
    for path in files:
        groups.setdefault(detect_format(path) if fmt == "auto" else fmt, []).append(path)

    problems = task.problems()
    matcher = ProblemMatcher(problems)
    results = [READERS[name](group, matcher, model=model, split_by_model=split_by_model, label=label)
               for name, group in groups.items()]  # read and validate everything before writing

    if not any(result.rows for result in results):
        lost = [name for result in results for name in result.unmatched.values()]
        if lost:  # nothing would be imported: a wrong --task, not a partial match
            raise ImportFormatError(
                f"none of the {len(lost)} problems in {', '.join(str(f) for f in files[:3])} is a problem of "
                f"task {task.name} (e.g. {', '.join(lost[:3])}): is it the right --task?")
    nonfinite = 0
    for result in results:
        result.rows, dropped = _drop_nonfinite_scores(result.rows)
        nonfinite += dropped

    refs: list[str] = []
    written = skipped = 0
    unmatched: dict[str, str] = {}
    present: set[str] = set()
    for result in results:
        unmatched.update(result.unmatched)
        present.update(row.candidate.problem_id for row in result.rows)
        for key, plan in result.pools.items():
            rows = [row for row in result.rows if row.pool == key]
            if not rows:
                continue  # every line of this pool was for problems the task lacks: make no empty pool
            meta = {"import_format": result.fmt, "imported_from": [str(p) for p in result.files]}
            pool = store.create(task.name, plan.spec, problems, label=plan.label, meta=meta)
            candidates = _assign_indices(pool, rows)
            count = pool.append(candidates)
            written += count
            skipped += len(candidates) - count
            if pool.ref not in refs:
                refs.append(pool.ref)
    return ImportReport(pools=tuple(refs), written=written, skipped_existing=skipped,
                        unmatched_problems=tuple(unmatched.values()),
                        task_problems_missing=sum(1 for p in problems if p.id not in present),
                        nonfinite_scores=nonfinite)


def _drop_nonfinite_scores(rows: list[Parsed]) -> tuple[list[Parsed], int]:
    """JSON allows NaN and Infinity; a score-based selector must not rank by them: such a score
    is dropped (the candidate has no score of that name, as if the source had none) and counted."""
    out, dropped = [], 0
    for row in rows:
        scores = row.candidate.scores
        bad = [name for name, value in scores.items() if value is not None and not math.isfinite(value)]
        if bad:
            dropped += len(bad)
            kept = {name: value for name, value in scores.items() if name not in bad}
            row = replace(row, candidate=replace(row.candidate, scores=kept))
        out.append(row)
    return out, dropped


def detect_format(path: Path) -> str:
    """The format of one file: by name (output-rs<seed>.jsonl), else by its first record's fields."""
    path = Path(path)
    if nemo_skills.seed_of(path) is not None:
        return nemo_skills.FORMAT
    for _, obj in iter_objects(path):
        if not obj:
            continue  # "{}" lines (unfinished NeMo-Skills generations) say nothing
        if "resps" in obj:
            return lm_eval.FORMAT
        if "generation" in obj:
            return nemo_skills.FORMAT
        if "problem_id" in obj and "response" in obj:
            return harness_jsonl.FORMAT
        raise ImportFormatError(
            f"{path}: cannot tell the format from its fields ({', '.join(sorted(obj)[:12])}). Expected "
            "harness-jsonl (problem_id, response, ...), nemo-skills (generation, ...; files named "
            "output-rs<seed>.jsonl) or lm-eval --log_samples (doc_id, doc, resps, ...); "
            "pass the format explicitly if it is one of these.")
    raise ImportFormatError(f"{path}: no records, cannot tell its format")


def _expand(paths: list[Path]) -> list[Path]:
    """Files as given; a directory stands for its *.jsonl / *.jsonl.gz files (sorted)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(p for p in path.iterdir()
                            if p.is_file() and p.name.endswith((".jsonl", ".jsonl.gz")))
            if not inside:
                raise ImportFormatError(f"{path}: directory holds no .jsonl files")
            files.extend(inside)
        elif path.is_file():
            files.append(path)
        else:
            raise MissingFileError(f"{path}: no such file or directory")
    if not files:
        raise ImportFormatError("nothing to import: no input files given")
    return files


def _assign_indices(pool: Pool, rows: list[Parsed]) -> list[Candidate]:
    """Final candidates: fixed indices as read; others numbered per problem after the pool's own.

    An order-assigned candidate the pool already holds (same seed / model / sample) keeps its
    index, so repeating an import writes nothing; new ones follow in sorted identity order.
    """
    out: list[Candidate] = [row.candidate for row in rows if row.fixed]
    pending: dict[str, dict[tuple, Candidate]] = {}
    for row in rows:
        if not row.fixed:
            per_problem = pending.setdefault(row.candidate.problem_id, {})
            per_problem.setdefault(identity(row.candidate), row.candidate)
    if not pending:
        return out
    existing = pool.candidates()
    for pid, by_identity in pending.items():
        held = existing.get(pid, [])
        known: dict[tuple, int] = {}
        for cand in held:
            known.setdefault(identity(cand), cand.index)
        next_index = max((c.index for c in held), default=-1) + 1
        for ident in sorted(by_identity, key=identity_sort_key):
            if ident in known:
                index = known[ident]
            else:
                index, next_index = next_index, next_index + 1
            out.append(replace(by_identity[ident], index=index))
    return out
