"""The judge cache (sqlite, WAL): indexed lookups, one row per call under concurrent writers,
import of the older JSONL cache, and a clear error for a file that is not a cache."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from harness.backends.base import GenRequest, GenResult, SamplingParams
from harness.errors import DataError
from harness.jsonl import Appender
from harness.judge_cache import JudgeCache, request_key

SPEC = {"model": "judge", "temperature": 0.6}


def _request(i: int) -> GenRequest:
    return GenRequest(seed=i, params=SamplingParams(max_tokens=8), prompt=f"prompt {i}")


def _result(i: int) -> GenResult:
    return GenResult(f"Judgment: {i % 3}", "stop", 10, 3)


def test_roundtrip_duplicates_and_reopen(tmp_path):
    cache = JudgeCache(tmp_path, SPEC)
    assert cache.get(_request(0)) is None
    cache.put_many([(_request(i), _result(i)) for i in range(10)])
    cache.put_many([(_request(i), GenResult("other", "stop", 1, 1)) for i in range(5)])  # the race's loser
    assert len(cache) == 10 and cache.get(_request(3)) == _result(3)  # first answer kept, stored once
    again = JudgeCache(tmp_path, SPEC)
    assert len(again) == 10 and again.get_many([_request(1), _request(99)]) == [_result(1), None]
    assert JudgeCache(tmp_path, {**SPEC, "temperature": 1.0}).get(_request(1)) is None  # another judge


def _writer(root, offset, count):
    cache = JudgeCache(root, SPEC)
    for start in range(offset, offset + count, 25):
        cache.put_many([(_request(i), _result(i)) for i in range(start, min(start + 25, offset + count))])


def test_two_processes_writing_one_cache_lose_nothing_and_store_each_call_once(tmp_path):
    procs = [mp.get_context("spawn").Process(target=_writer, args=(tmp_path, offset, 600))
             for offset in (0, 300)]  # 300 calls overlap: both processes answer them
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    cache = JudgeCache(tmp_path, SPEC)
    assert len(cache) == 900
    assert all(cache.get(_request(i)) == _result(i) for i in range(900))


def test_an_older_jsonl_cache_is_imported_once(tmp_path):
    key = JudgeCache(tmp_path / "probe", SPEC).judge_key
    legacy = tmp_path / f"{key}.jsonl"
    with Appender(legacy, "judge", {"judge": SPEC}) as out:
        for i in range(4):
            out.write({"key": request_key(_request(i)), "text": _result(i).text, "finish_reason": "stop",
                       "prompt_tokens": 10, "completion_tokens": 3})
    cache = JudgeCache(tmp_path, SPEC)
    assert len(cache) == 4 and cache.get(_request(2)) == _result(2)
    assert not legacy.exists() and legacy.with_name(legacy.name + ".imported").exists()


def test_a_file_that_is_not_a_cache_is_named(tmp_path):
    key = JudgeCache(tmp_path / "probe", SPEC).judge_key
    (tmp_path / f"{key}.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DataError, match=f"{key}.sqlite: not a usable judge cache"):
        JudgeCache(tmp_path, SPEC)


def test_judging_reports_progress_per_request_and_commits_per_chunk(tmp_path):
    """on_answered counts every request once, cached ones first, then each chunk as it lands in
    the cache (what the judging progress bar shows); duplicates are answered with their first."""
    from harness.judging import Judging
    from harness.types import GenSpec

    from fakes import ScriptedBackend

    spec = GenSpec(backend="hf", model="scripted-judge")
    backend = ScriptedBackend(lambda r: f"Judgment: {r.seed % 2}")
    judging = Judging(tmp_path / "judge", backend_factory=lambda s, o: backend, chunk=3)
    params = SamplingParams(temperature=0.7, top_p=0.95, max_tokens=8)
    requests = [GenRequest(seed=s, params=params, messages=(("user", f"q{s % 5}"),)) for s in range(5)]
    ticks: list[int] = []
    first = judging.answer(spec, {}, requests + requests[:2], on_answered=ticks.append)
    assert ticks == [0, 5, 2] and [len(b) for b in backend.batches] == [3, 2]  # 5 unique, chunks of 3
    assert [r.text for r in first] == [f"Judgment: {s % 2}" for s in [*range(5), 0, 1]]
    ticks.clear()
    again = judging.answer(spec, {}, requests, on_answered=ticks.append)
    assert ticks == [5] and backend.calls == 5 and [r.text for r in again] == [r.text for r in first[:5]]
    judging.close()
