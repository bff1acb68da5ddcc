"""Shards: one slice of a task's problems per job (`--shard i/k`, e.g. a SLURM array task).

Shard i of k takes the problems at positions p with p mod k == i in the task's own problem order
(the same on every node). A sharded job writes files of its own beside the unsharded ones, never
into them, so k jobs on k nodes share a results tree on a network file system without sharing
a lock: candidates.shard-i-of-k.jsonl in the pool, grades.<grader>.shard-i-of-k.jsonl beside the
grades, <judge>.shard-i-of-k.sqlite beside the judge cache. Readers take the unsharded file and
every shard file together; `python -m harness pool merge` folds a pool's shard files into its
candidates.jsonl, and the first unsharded run folds the judge shards into the judge cache.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, TypeVar

from harness.errors import ConfigError

T = TypeVar("T")
_SPEC = re.compile(r"(\d+)/(\d+)")


@dataclass(frozen=True)
class Shard:
    index: int  # 0-based
    count: int

    @classmethod
    def parse(cls, text: str | None) -> "Shard | None":
        if text is None or text == "":
            return None
        m = _SPEC.fullmatch(str(text).strip())
        if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
            raise ConfigError(f"--shard must be i/k with 0 <= i < k (e.g. 0/4 for the first of four), "
                              f"got {text!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    def select(self, items: Sequence[T]) -> list[T]:
        """This shard's items: every k-th, from position i."""
        return [item for position, item in enumerate(items) if position % self.count == self.index]

    @property
    def suffix(self) -> str:
        return f".shard-{self.index}-of-{self.count}"

    def path(self, path: Path) -> Path:
        """`path` with this shard's suffix before the extension (a.jsonl -> a.shard-0-of-4.jsonl)."""
        return path.with_name(path.stem + self.suffix + path.suffix)


def shard_files(path: Path) -> list[Path]:
    """The shard files written beside `path` (any i, any k), in name order."""
    return sorted(path.parent.glob(f"{path.stem}.shard-*-of-*{path.suffix}"))


def shard_path(path: Path, shard: Shard | None) -> Path:
    return shard.path(path) if shard is not None else path
