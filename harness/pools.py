"""Candidate pools: results/pools/<task>/<model-slug>/<pool-key>/{spec.json, candidates.jsonl}.

A pool holds every candidate for one (task, GenSpec). It only grows: adding samples appends
lines, never rewrites them, so N = 64 reuses the 32 candidates made for N = 32. The key is a
hash of the task name and the GenSpec, so a change of model, prompt or sampling makes a new pool.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from harness.errors import PoolError  # re-exported (one class for PoolError)
from harness.jsonl import Appender, JsonlFormatError, read_records, write_json_atomic
from harness.shards import Shard, shard_files, shard_path
from harness.types import SCHEMA_VERSION, Candidate, GenSpec, Problem

CANDIDATES_FILE = "candidates.jsonl"
SPEC_FILE = "spec.json"


def slugify(text: str) -> str:
    """File-name-safe slug: [a-z0-9._-] only (metadata keeps the real name)."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.")
    return slug or "unnamed"


@dataclass(frozen=True)
class PoolMatch:
    """How a pool's problems line up with its task's problems (never silently dropped)."""

    shared: tuple[str, ...]
    only_in_pool: tuple[str, ...]
    only_in_task: tuple[str, ...]
    changed_statement: tuple[str, ...]

    def summary(self) -> dict[str, int]:
        return {"shared": len(self.shared), "only_in_pool": len(self.only_in_pool),
                "only_in_task": len(self.only_in_task), "changed_statement": len(self.changed_statement)}

    def describe(self) -> str:
        parts = [f"{len(self.shared)} problems shared"]
        for label, ids in (("in the pool but not the task", self.only_in_pool),
                           ("in the task but not the pool", self.only_in_task),
                           ("whose statement changed since the pool was made", self.changed_statement)):
            if ids:
                shown = ", ".join(ids[:5]) + (" ..." if len(ids) > 5 else "")
                parts.append(f"{len(ids)} {label} ({shown})")
        return "; ".join(parts)


@dataclass
class Pool:
    path: Path
    task: str
    spec: GenSpec
    label: str
    fingerprints: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.path.name

    @property
    def ref(self) -> str:
        """Short name used on the command line and in run records: <task>/<slug>/<key>."""
        return f"{self.task}/{self.path.parent.name}/{self.key}"

    @property
    def candidates_path(self) -> Path:
        return self.path / CANDIDATES_FILE

    # -- reading --------------------------------------------------------------------------
    def candidates(self) -> dict[str, list[Candidate]]:
        """Candidates per problem, sorted by index. Duplicated (problem, index) lines: first wins."""
        return self.read_candidates()[0]

    def read_candidates(self) -> tuple[dict[str, list[Candidate]], int]:
        """(candidates per problem, how many duplicated (problem, index) lines were ignored).

        The pool's own writers never duplicate a line; a duplicate comes from files joined by
        hand. The first line wins, and the count lets a run say so."""
        return self._read(self.candidate_files())

    def candidate_files(self) -> list[Path]:
        """candidates.jsonl, then the files of sharded generation jobs (harness.shards)."""
        main = [self.candidates_path] if self.candidates_path.exists() else []
        return main + shard_files(self.candidates_path)

    def size(self) -> dict[str, int]:
        return {pid: len(cands) for pid, cands in self.candidates().items()}

    def match(self, problems: Sequence[Problem], present: Iterable[str] | None = None) -> PoolMatch:
        task_ids = {p.id: p.fingerprint() for p in problems}
        pool_ids = set(present if present is not None else self.candidates())
        changed = [pid for pid in pool_ids if pid in task_ids and pid in self.fingerprints
                   and self.fingerprints[pid] != task_ids[pid]]
        return PoolMatch(shared=tuple(sorted(pool_ids & set(task_ids))),
                         only_in_pool=tuple(sorted(pool_ids - set(task_ids))),
                         only_in_task=tuple(sorted(set(task_ids) - pool_ids)),
                         changed_statement=tuple(sorted(changed)))

    # -- writing --------------------------------------------------------------------------
    def append(self, candidates: Iterable[Candidate], shard: Shard | None = None) -> int:
        """Append candidates whose (problem, index) is new; return how many were written.
        A sharded job writes its own file (harness.shards), never candidates.jsonl."""
        existing = {(pid, c.index) for pid, cands in self.candidates().items() for c in cands}
        written = 0
        path = shard_path(self.candidates_path, shard)
        with Appender(path, "candidates", {"pool_key": self.key, "task": self.task}) as out:
            for cand in candidates:
                if (cand.problem_id, cand.index) in existing:
                    continue
                existing.add((cand.problem_id, cand.index))
                out.write(cand.to_json())
                written += 1
        return written

    def merge_shards(self) -> tuple[int, int]:
        """Fold the shard files into candidates.jsonl: (candidates moved, duplicates dropped).
        The shard files go only once their candidates are in the main file (a kill in between
        leaves duplicates that readers skip, and the next merge removes)."""
        shards = shard_files(self.candidates_path)
        if not shards:
            return 0, 0
        main, _ = self._read([self.candidates_path] if self.candidates_path.exists() else [])
        have = {(pid, c.index) for pid, cands in main.items() for c in cands}
        moved = duplicates = 0
        with Appender(self.candidates_path, "candidates", {"pool_key": self.key, "task": self.task}) as out:
            for path in shards:
                _, rows = read_records(path, "candidates")
                for cand in (_candidate_from_row(r, path) for r in rows):
                    if (cand.problem_id, cand.index) in have:
                        duplicates += 1
                        continue
                    have.add((cand.problem_id, cand.index))
                    out.write(cand.to_json())
                    moved += 1
        for path in shards:  # only now: every candidate of theirs is in candidates.jsonl
            path.unlink()
            Path(str(path) + ".lock").unlink(missing_ok=True)
        return moved, duplicates

    def _read(self, paths: list[Path]) -> tuple[dict[str, list[Candidate]], int]:
        out: dict[str, dict[int, Candidate]] = {}
        duplicates = 0
        for path in paths:
            _, rows = read_records(path, "candidates")
            for row in rows:
                cand = _candidate_from_row(row, path)
                by_index = out.setdefault(cand.problem_id, {})
                if cand.index in by_index:
                    duplicates += 1
                else:
                    by_index[cand.index] = cand
        return {pid: [by_index[i] for i in sorted(by_index)] for pid, by_index in out.items()}, duplicates


def _candidate_from_row(row: dict[str, Any], path: Path) -> Candidate:
    line = row.get("_line", "?")
    for name, kind in (("problem_id", str), ("index", int), ("text", str)):
        if name not in row:
            raise JsonlFormatError(f"{path}:{line}: missing field {name!r}")
        if not isinstance(row[name], kind) or (kind is int and isinstance(row[name], bool)):
            raise JsonlFormatError(f"{path}:{line}: field {name!r} must be {kind.__name__}, "
                                   f"got {type(row[name]).__name__}")
    scores = row.get("scores") or {}
    if not isinstance(scores, dict) or not all(isinstance(v, (int, float)) or v is None
                                               for v in scores.values()):
        raise JsonlFormatError(f"{path}:{line}: field 'scores' must map names to numbers")
    return Candidate(problem_id=row["problem_id"], index=row["index"], text=row["text"],
                     finish_reason=row.get("finish_reason"), prompt_tokens=row.get("prompt_tokens"),
                     completion_tokens=row.get("completion_tokens"), seed=row.get("seed"),
                     scores=scores, metadata=row.get("metadata") or {})


class PoolStore:
    """Finds, creates and lists pools under one results directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def create(self, task: str, spec: GenSpec, problems: Sequence[Problem], label: str | None = None,
               meta: Mapping[str, Any] | None = None) -> Pool:
        """Open the pool for (task, spec), creating its spec.json on first use."""
        label = label or spec.model
        path = self.root / slugify(task) / slugify(label) / spec.key(task)
        if (path / SPEC_FILE).exists():
            pool = self.load(path)
            # Record fingerprints of problems added to the task since the pool was made.
            new = {p.id: p.fingerprint() for p in problems if p.id not in pool.fingerprints}
            if new:
                pool.fingerprints.update(new)
                self._write_spec(pool)
            return pool
        pool = Pool(path=path, task=task, spec=spec, label=label,
                    fingerprints={p.id: p.fingerprint() for p in problems}, meta=dict(meta or {}))
        self._write_spec(pool)
        return pool

    def _write_spec(self, pool: Pool) -> None:
        write_json_atomic(pool.path / SPEC_FILE, {
            "schema": SCHEMA_VERSION, "kind": "pool", "task": pool.task, "label": pool.label,
            "pool_key": pool.key, "spec": pool.spec.to_json(), "fingerprints": pool.fingerprints,
            "meta": pool.meta, "updated": time.strftime("%Y-%m-%dT%H:%M:%S")})

    def load(self, path: Path) -> Pool:
        import json

        spec_path = Path(path) / SPEC_FILE
        if not spec_path.is_file():
            raise PoolError(f"{path} is not a pool (no {SPEC_FILE})")
        data = json.loads(spec_path.read_text(encoding="utf-8"))
        for name in ("task", "spec", "label"):
            if name not in data:
                raise PoolError(f"{spec_path}: missing field {name!r}")
        return Pool(path=Path(path), task=data["task"], spec=GenSpec.from_json(data["spec"]),
                    label=data["label"], fingerprints=data.get("fingerprints", {}), meta=data.get("meta", {}))

    def all(self, task: str | None = None) -> list[Pool]:
        base = self.root / slugify(task) if task else self.root
        return [self.load(p.parent) for p in sorted(base.glob(f"{'' if task else '*/'}*/*/{SPEC_FILE}"))]

    def resolve(self, name: str, task: str | None = None) -> Pool:
        """A pool by path; by <task>/<slug>[/<key>], slug, label or the generator's model name
        (e.g. Qwen/Qwen2.5-7B-Instruct, any case); by key prefix; else by a unique prefix of a
        slug. Unknown names raise PoolError with close matches and the pools that exist."""
        if Path(name).is_dir() and (Path(name) / SPEC_FILE).exists():
            return self.load(Path(name))
        candidates = self.all(task)
        for tier in (_names_pool, _prefixes_pool):
            hits = [p for p in candidates if tier(p, name)]
            if len(hits) == 1:
                return hits[0]
            if hits:
                raise PoolError(f"pool name {name!r} is ambiguous: {', '.join(p.ref for p in hits)}; "
                                "give one of these refs")
        raise PoolError(_unknown_pool_message(name, task, candidates, self.root))


# -- pool references ----------------------------------------------------------------------------

def _short_names(pool: Pool) -> tuple[str, ...]:
    """Names a pool answers to, besides its ref: task/slug, slug, label, model and model basename."""
    slug = pool.path.parent.name
    model = pool.spec.model or ""
    return (f"{pool.task}/{slug}", slug, pool.label, model, model.rsplit("/", 1)[-1])


def _names_pool(pool: Pool, name: str) -> bool:
    """`name` is the pool's ref or one of its names (any case, any spelling with the same slug),
    or a prefix of its key."""
    low = name.lower()
    return (name == pool.ref or any(low == n.lower() for n in _short_names(pool) if n)
            or slugify(name) == pool.path.parent.name or pool.key.startswith(name))


def _prefixes_pool(pool: Pool, name: str) -> bool:
    """`name` begins one of the pool's names (case-insensitive)."""
    low = name.lower()
    return any(n.lower().startswith(low) for n in _short_names(pool) if n) or \
        pool.path.parent.name.startswith(slugify(name))


def _unknown_pool_message(name: str, task: str | None, candidates: Sequence[Pool], root: Path) -> str:
    import difflib

    spelled: dict[str, Pool] = {}
    for pool in candidates:
        for n in filter(None, _short_names(pool)):
            spelled.setdefault(n, pool)
            spelled.setdefault(n.lower(), pool)
    close = difflib.get_close_matches(name.lower(), list(spelled), n=3, cutoff=0.5)
    suggestions = list(dict.fromkeys(f"{spelled[c].task}/{spelled[c].path.parent.name}" for c in close))
    hint = f" Did you mean {' or '.join(repr(s) for s in suggestions)}?" if suggestions else ""
    short = [f"{p.task}/{p.path.parent.name}" for p in candidates]
    known = ", ".join(p.ref if short.count(s) > 1 else s for p, s in zip(candidates, short)) or "(none)"
    where = f" for task {task!r}" if task else ""
    return (f"no pool named {name!r}{where} under {root}.{hint} Known pools{where}: {known}. "
            "Import one with `python -m harness pool import`, or give --model to generate one.")
