"""Benchmark: judge-cache lookups in a 100,000-call cache, sqlite (WAL, indexed) vs the JSONL file
read whole that it replaced, in this process on the same calls.

    python bench/judge_cache.py          # prints a table, writes bench/out/judge_cache.json

Measured: the time to open the cache and answer 1,000 lookups (what a small run does), the time
per lookup once open, and the memory the open cache holds (tracemalloc peak while opening).
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.backends.base import GenRequest, GenResult, SamplingParams  # noqa: E402
from harness.jsonl import Appender, read_records  # noqa: E402
from harness.judge_cache import JudgeCache, request_key  # noqa: E402

ENTRIES, LOOKUPS = 100_000, 1_000
SPEC = {"model": "bench-judge"}


def request(i: int) -> GenRequest:
    return GenRequest(seed=i, params=SamplingParams(max_tokens=16), prompt=f"problem {i} " + "x" * 200)


def result(i: int) -> GenResult:
    return GenResult(f"Comparing the solutions ... Judgment: {i % 8}", "stop", 400, 16)


def main() -> None:
    rng = random.Random(0)
    wanted = [request(rng.randrange(ENTRIES)) for _ in range(LOOKUPS)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cache = JudgeCache(root / "sqlite", SPEC)
        for start in range(0, ENTRIES, 5000):
            cache.put_many([(request(i), result(i)) for i in range(start, start + 5000)])
        cache.close()
        legacy = root / "legacy.jsonl"
        with Appender(legacy, "judge", {"judge": SPEC}) as out:
            out.write_many({"key": request_key(request(i)), "text": result(i).text, "finish_reason": "stop",
                            "prompt_tokens": 400, "completion_tokens": 16} for i in range(ENTRIES))

        def jsonl_open_and_look_up():
            _, rows = read_records(legacy, "judge")
            table = {row["key"]: row for row in rows}
            return table, [table.get(request_key(r)) for r in wanted]

        def sqlite_open_and_look_up():
            opened = JudgeCache(root / "sqlite", SPEC)
            return opened, [opened.get(r) for r in wanted]

        figures = {}
        for name, fn in (("jsonl read whole (before)", jsonl_open_and_look_up),
                         ("sqlite WAL", sqlite_open_and_look_up)):
            tracemalloc.start()
            start = time.perf_counter()
            handle, answers = fn()
            seconds = time.perf_counter() - start
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert all(a is not None for a in answers)
            start = time.perf_counter()
            for r in wanted:
                handle.get(request_key(r)) if isinstance(handle, dict) else handle.get(r)
            per_lookup = (time.perf_counter() - start) / LOOKUPS
            figures[name] = {"open_and_1000_lookups_s": round(seconds, 3),
                             "per_lookup_us": round(per_lookup * 1e6, 1),
                             "peak_memory_mb": round(peak / 2**20, 1)}
        sizes = {"sqlite_mb": round(sum(f.stat().st_size for f in (root / "sqlite").iterdir()) / 2**20, 1),
                 "jsonl_mb": round(legacy.stat().st_size / 2**20, 1)}
    print(f"{ENTRIES:,} cached calls, {LOOKUPS:,} lookups")
    print(f"{'cache':28} {'open + lookups (s)':>20} {'per lookup (us)':>16} {'peak memory (MB)':>17}")
    for name, f in figures.items():
        print(f"{name:28} {f['open_and_1000_lookups_s']:>20} {f['per_lookup_us']:>16} "
              f"{f['peak_memory_mb']:>17}")
    print(f"files: {sizes}")
    Path("bench/out").mkdir(parents=True, exist_ok=True)
    summary = {"entries": ENTRIES, "lookups": LOOKUPS, "figures": figures, "files": sizes}
    Path("bench/out/judge_cache.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
