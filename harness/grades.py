"""Grade cache: every candidate is graded once per grader version and the result appended.

results/pools/.../<key>/grades.<grader>-<version>.jsonl holds one row per candidate with a hash
of the candidate text and of the reference. A row is reused only while both hashes still match,
so fixing a reference answer or a candidate re-grades exactly the affected problems. Grading is
done per problem (answer clusters need the whole problem), in chunks of whole problems
(CHUNK_CANDIDATES): each chunk's rows are appended once all of them are computed, so a killed
grading run loses at most the chunk in flight and never leaves a half-graded problem.

The file is a cache of derived data: a line that cannot be read (a disk fault, a hand edit) is
dropped with a count, the file rewritten without it, and its candidates graded again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from harness.jsonl import Appender, JsonlFormatError, parse_line, read_records, write_records_atomic
from harness.pools import Pool, slugify
from harness.shards import Shard, shard_files, shard_path
from harness.task import Grader
from harness.types import Candidate, Grade, Problem, Reference, stable_hash


@dataclass(frozen=True)
class GradeStats:
    cached: int
    graded: int
    errors: int  # grader failures (verdict "error"): counted, never scored as wrong
    dropped_lines: int = 0  # unreadable cache lines dropped (their candidates graded again)

    def to_json(self) -> dict[str, int]:
        out = {"cached": self.cached, "graded": self.graded, "errors": self.errors}
        return {**out, "dropped_lines": self.dropped_lines} if self.dropped_lines else out


# Problems are graded in chunks of about this many candidates (whole problems): big enough to
# keep every grading worker busy, small enough that a kill loses little.
CHUNK_CANDIDATES = 512


def grades_file(pool: Pool, grader: Grader):
    return pool.path / f"grades.{slugify(grader.name)}-{slugify(grader.version)}.jsonl"


def _ref_hash(ref: Reference) -> str:
    # Typed tests (harness.grading.code_types) hash as their JSON form, the dicts they used to be.
    tests = ref.tests.to_json() if hasattr(ref.tests, "to_json") else ref.tests
    return stable_hash({"answer": ref.answer, "tests": tests}, 12)


def _text_hash(text: str) -> str:
    return stable_hash(text, 12)


def load_or_grade(pool: Pool, grader: Grader, problems: Sequence[Problem],
                  references: Mapping[str, Reference], candidates: Mapping[str, Sequence[Candidate]],
                  *, workers: int = 0, progress: bool = True, shard: Shard | None = None,
                  fanout: Any = None) -> tuple[dict[str, list[Grade]], GradeStats]:
    """Grades of every candidate: from the cache where text and reference are unchanged, else
    graded in chunks and appended (a sharded run appends to a file of its own: harness.shards;
    every run reads the main file and all shard files). `fanout` (harness.fanout.RayFanout)
    grades the chunks as tasks on a Ray cluster; this process still writes every row."""
    main = grades_file(pool, grader)
    path = shard_path(main, shard)  # where this run appends
    header = {"grader": grader.name, "grader_version": grader.version, "pool_key": pool.key}
    cached: dict[tuple[str, int], dict] = {}
    dropped = 0
    for source in [main, *shard_files(main)]:
        if source.exists():
            rows, bad = _read_cache(source, header)
            dropped += bad
            for row in rows:
                cached[(row["problem_id"], row["index"])] = row  # last row wins (re-grades append)

    result: dict[str, list[Grade]] = {}
    todo: list[Problem] = []
    n_cached = 0
    for problem in problems:
        cands = candidates.get(problem.id, ())
        if not cands:
            continue
        hit = _cached_grades(problem.id, cands, _ref_hash(references[problem.id]), cached)
        if hit is not None:
            result[problem.id] = hit
            n_cached += len(cands)
        else:
            todo.append(problem)

    n_graded = 0
    known_size = path.stat().st_size if path.exists() else 0
    chunks = _chunks(todo, candidates)
    if fanout is not None:
        done = fanout.grade_chunks(grader, chunks, references, candidates, workers)
        graded = ((chunks[i], fresh) for i, fresh in done)
    else:
        graded = ((chunk, grader.grade(chunk, references, {p.id: candidates[p.id] for p in chunk},
                                       workers=workers, progress=progress)) for chunk in chunks)
    for chunk, fresh in graded:
        with Appender(path, "grades", header) as out:
            if path.stat().st_size != known_size:  # another run on this pool appended meanwhile:
                cached.update(_rows_by_key(path))  # its rows win, so both runs report the same grades
            block = []
            for problem in chunk:
                ref_hash = _ref_hash(references[problem.id])
                theirs = _cached_grades(problem.id, candidates[problem.id], ref_hash, cached)
                if theirs is not None:
                    result[problem.id] = theirs
                    n_cached += len(theirs)
                    continue
                grades = fresh[problem.id]
                texts = {c.index: c.text for c in candidates[problem.id]}
                block += [{**g.to_json(), "text_hash": _text_hash(texts[g.index]), "ref_hash": ref_hash}
                          for g in grades]
                result[problem.id] = grades
                n_graded += len(grades)
            out.write_block(block)  # the chunk's rows at once: a kill never leaves half a problem
            known_size = path.stat().st_size
    if dropped and n_graded:  # the dropped lines' problems were graded again: keep one row per candidate
        write_records_atomic(path, "grades", header, [{k: v for k, v in r.items() if k != "_line"}
                                                      for r in _rows_by_key(path).values()])
    errors = sum(1 for grades in result.values() for g in grades if g.verdict == "error")
    return result, GradeStats(cached=n_cached, graded=n_graded, errors=errors, dropped_lines=dropped)


def _cached_grades(problem_id: str, cands: Sequence[Candidate], ref_hash: str,
                   cached: Mapping[tuple[str, int], dict]) -> list[Grade] | None:
    """The problem's grades from cache rows, if every candidate has a row for its current text
    and reference; None otherwise (the problem is graded again, whole)."""
    hits = [cached.get((problem_id, c.index)) for c in cands]
    if all(row is not None and row.get("text_hash") == _text_hash(c.text) and row.get("ref_hash") == ref_hash
           for row, c in zip(hits, cands)):
        return [_grade_from_row(row) for row in hits if row is not None]
    return None


def _rows_by_key(path) -> dict[tuple[str, int], dict]:
    try:
        _, rows = read_records(path, "grades")
    except JsonlFormatError:  # dropped (and the file cleaned) by the next run's _read_cache
        return {}
    return {(r["problem_id"], r["index"]): r for r in rows if _valid(r)}


def _chunks(problems: list[Problem], candidates: Mapping[str, Sequence[Candidate]]) -> list[list[Problem]]:
    chunks: list[list[Problem]] = []
    size = CHUNK_CANDIDATES
    for problem in problems:
        n = len(candidates.get(problem.id, ()))
        if not chunks or size + n > CHUNK_CANDIDATES:
            chunks.append([])
            size = 0
        chunks[-1].append(problem)
        size += n
    return chunks


_ROW_FIELDS = {"problem_id": str, "index": int, "verdict": str, "text_hash": str, "ref_hash": str}


def _valid(row: dict) -> bool:
    """A cache row with every field the reader relies on, of the right type."""
    return all(isinstance(row.get(k), t) for k, t in _ROW_FIELDS.items())


def _read_cache(path, header: dict) -> tuple[list[dict], int]:
    """The cache's rows; unreadable lines (not JSON, not UTF-8, a row without its fields) are
    dropped and the file rewritten without them (atomically), so the next run reads it clean."""
    try:
        _, rows = read_records(path, "grades")
        bad = 0
    except JsonlFormatError:
        rows, bad = _salvage(path)
    good = [r for r in rows if _valid(r)]
    bad += len(rows) - len(good)
    if bad:
        write_records_atomic(path, "grades", header, [{k: v for k, v in r.items() if k != "_line"}
                                                      for r in good])
    return good, bad


def _salvage(path) -> tuple[list[dict], int]:
    rows, bad = [], 0
    with open(path, "rb") as handle:
        lines = handle.read().split(b"\n")
    complete = lines[:-1]  # the part after the last newline is a write in flight, not a record
    for line_no, raw in enumerate(complete[1:], 2):
        try:
            obj = parse_line(raw, path, line_no)
        except JsonlFormatError:
            bad += 1
            continue
        if obj is not None:
            rows.append(obj)
    return rows, bad


def _grade_from_row(row: dict) -> Grade:
    return Grade(problem_id=row["problem_id"], index=row["index"], verdict=row["verdict"],
                 correct=row["correct"], answer=row.get("answer"), cluster=row.get("cluster"),
                 detail=row.get("detail", ""))
