"""Bad input as a table: each case gets one clear line naming the input (exit 2) or a counted
fallback (exit 0 and the count said), and afterwards every cache and pool file under the
results tree still reads cleanly.

Inputs go in through the CLI (`python -m harness ...`, in-process) where a user would give them.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Callable

import pytest

from harness.cli import main
from harness.jsonl import read_records

TASK = "arith:level=mul1,n=4,split=test,seed=0"
OTHER_TASK = "arith:level=add1,n=4,split=test,seed=0"
REPO = Path(__file__).resolve().parents[2]


def _ids(tmp: Path) -> list[str]:
    from harness.plugins import load_task
    from harness.settings import Settings

    return [p.id for p in load_task(TASK, Settings.resolve(results_dir=tmp / "results")).problems()]


def _row(pid: str, i: int, text: str = "The answer is 12.", **extra) -> dict:
    return {"problem_id": pid, "model": "m", "sample_index": i, "response": text, **extra}


def _file(tmp: Path, name: str, lines: list) -> str:
    path = tmp / name
    with path.open("wb") as handle:
        for line in lines:
            handle.write(line if isinstance(line, bytes) else (json.dumps(line) + "\n").encode())
    return str(path)


def _good(tmp: Path) -> list[dict]:
    return [_row(pid, i, f"The answer is {10 + i}.") for pid in _ids(tmp) for i in range(4)]


def _import(tmp: Path, lines: list, label: str = "p", task: str = TASK) -> list[str]:
    return ["pool", "import", "--task", task, "--label", label, _file(tmp, f"{label}.jsonl", lines)]


def _imported(tmp: Path, label: str = "p") -> Path:
    assert main([*_import(tmp, _good(tmp), label), "--results-dir", str(tmp / "results")]) == 0
    (folder,) = (tmp / "results" / "pools").glob(f"*/{label}/*")
    return folder


def _run(*extra: str, pool: str = "p", task: str = TASK) -> list[str]:
    return ["run", "--task", task, "--pool", pool, "--selector", "majority", "--n", "2", "--quiet", *extra]


# -- the cases: (name, build argv in tmp, expected exit code, text the output must contain) -------

def malformed_line(tmp):
    return (_import(tmp, [*_good(tmp)[:3], b"{not json\n", *_good(tmp)[3:]], "malformed"), 2,
            "malformed.jsonl:4: not valid JSON")


def non_utf8_line(tmp):
    bad = b'{"problem_id": "\xff", "model": "m", "sample_index": 0, "response": "x"}\n'
    return _import(tmp, [*_good(tmp)[:3], bad], "bytes"), 2, "bytes.jsonl:4: not valid UTF-8"


def duplicate_lines(tmp):
    good = _good(tmp)
    return _import(tmp, [*good, *good[:2]], "dup"), 0, "2 already in the pool were skipped"


def nan_score(tmp):
    pid = _ids(tmp)[0]
    line = (b'{"problem_id": "%s", "model": "m", "sample_index": 9, "response": "x", '
            b'"source_rm_score": NaN}\n' % pid.encode())
    return _import(tmp, [*_good(tmp), line], "nan"), 0, "1 non-finite scores (NaN/inf) were kept as missing"


def unknown_problem_ids(tmp):
    return (_import(tmp, [*_good(tmp), _row("not-a-problem", 0)], "unk"), 0,
            "1 problems in the input are not in the task and were not imported (not-a-problem)")


def empty_file(tmp):
    return _import(tmp, [], "empty"), 2, "empty.jsonl: no records"


def wrong_task_import(tmp):
    return _import(tmp, _good(tmp), "wrong", task=OTHER_TASK), 2, "is it the right --task?"


def huge_lines(tmp):
    # a 3 MB answer of digits (Python's int() refuses more than 4,300) and a 1 MB line of prose
    lines = [*_good(tmp), _row(_ids(tmp)[0], 4, "9" * 3_000_000), _row(_ids(tmp)[1], 4, "why " * 250_000)]
    assert main([*_import(tmp, lines, "huge"), "--results-dir", str(tmp / "results")]) == 0
    return _run(pool="huge"), 0, "majority"


def n_larger_than_pool(tmp):
    _imported(tmp)
    return [*_run()[:-3], "--n", "16", "--quiet"], 2, "N=16 exceeds the pool"


def empty_pool(tmp):
    from harness.plugins import load_task
    from harness.pools import PoolStore
    from harness.settings import Settings
    from harness.types import GenSpec

    settings = Settings.resolve(results_dir=tmp / "results")
    task = load_task(TASK, settings)
    PoolStore(settings.pools_dir).create(task.name, GenSpec(backend="import", model="m"), task.problems(),
                                         label="hollow")
    return _run(pool="hollow"), 2, "has no candidates for any problem"


def pool_of_another_task(tmp):
    _imported(tmp)
    return _run(task=OTHER_TASK), 2, "no pool named 'p' for task 'arith-add1-test-n4-s0'"


def corrupted_pool_line(tmp):
    folder = _imported(tmp)
    path = folder / "candidates.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[3] = b'{"problem_id": 7'
    path.write_bytes(b"\n".join(lines))
    return _run(), 2, "candidates.jsonl:4: not valid JSON"


def duplicated_pool_lines(tmp):
    folder = _imported(tmp)
    path = folder / "candidates.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines + lines[1:4]))  # files joined by hand
    return _run(), 0, "3 duplicated (problem, index) lines ignored"


def corrupted_grades_line(tmp):
    folder = _imported(tmp)
    assert main([*_run(), "--results-dir", str(tmp / "results")]) == 0
    (grades,) = folder.glob("grades.*.jsonl")
    lines = grades.read_bytes().split(b"\n")
    lines[2] = b"\x00\x00garbage\xff"
    grades.write_bytes(b"\n".join(lines))
    return _run(), 0, "1 unreadable lines dropped from the grades cache"


JUDGE_SPEC = {"model": "some-judge", "prompt": "genselect_v1"}


def judge_cache_not_sqlite(tmp):
    from harness.types import stable_hash

    cache = tmp / "results" / "judge"
    cache.mkdir(parents=True)
    (cache / f"{stable_hash(JUDGE_SPEC, 16)}.sqlite").write_bytes(b"this is not a database" * 100)
    return None, 2, "not a usable judge cache"


def checkpoint_missing_weights(tmp):
    _imported(tmp)
    (shipped,) = (REPO / "results" / "shipped").iterdir()
    broken = tmp / "broken-checkpoint"
    shutil.copytree(shipped, broken)
    (broken / "adapter_model.safetensors").unlink()
    argv = [*_run()[:5], "--selector", "rl-genselect", "--checkpoint", str(broken), "--n", "2", "--quiet"]
    return argv, 2, "is a LoRA adapter without its weights"


def run_config_unknown_key(tmp):
    config = tmp / "run.yaml"
    config.write_text(f"task: '{TASK}'\nselectors: [majority]\nns: [2]\ndraws_per_subset: 3\n")
    return ["run", "--config", str(config)], 2, "draws_per_subset"


def train_config_unknown_nested_key(tmp):
    config = tmp / "train.yaml"
    source = (REPO / "trainers" / "configs" / "cpu-smoke.yaml").read_text()
    config.write_text(source.replace("  max_steps: 2\n", "  max_steps: 2\n  dynamic_sampling_x: {x: 1}\n"))
    return ["train", "--config", str(config)], 2, "dapo.dynamic_sampling_x"


CASES: list[Callable] = [
    malformed_line, non_utf8_line, duplicate_lines, nan_score, unknown_problem_ids, empty_file,
    wrong_task_import, huge_lines, n_larger_than_pool, empty_pool, pool_of_another_task,
    corrupted_pool_line, duplicated_pool_lines, corrupted_grades_line, judge_cache_not_sqlite,
    checkpoint_missing_weights, run_config_unknown_key, train_config_unknown_nested_key,
]


def _judge_cache_open(tmp: Path) -> str:
    from harness.errors import DataError
    from harness.judge_cache import JudgeCache

    try:
        JudgeCache(tmp / "results" / "judge", JUDGE_SPEC)
    except DataError as exc:
        return f"error: {exc}"
    return "opened"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_bad_input(case, tmp_path, capsys):
    argv, code, expected = case(tmp_path)
    capsys.readouterr()
    if argv is None:  # an API-level input (the judge cache is opened by judging, not named by a flag)
        out = _judge_cache_open(tmp_path)
        got = 2 if out.startswith("error:") else 0
    else:
        got = main([*argv, "--results-dir", str(tmp_path / "results")])
        captured = capsys.readouterr()
        out = captured.out + captured.err
    assert got == code, out
    assert expected in out, out
    if code == 2:  # one clear line, no traceback
        assert "Traceback" not in out
        assert sum(line.startswith("error:") for line in out.splitlines()) == 1, out
    _caches_read_cleanly(tmp_path / "results", skip_broken_pool=case is corrupted_pool_line)


def _caches_read_cleanly(results: Path, skip_broken_pool: bool) -> None:
    for path in results.glob("pools/**/grades.*.jsonl"):
        read_records(path, "grades")  # raises on any unreadable line
    if not skip_broken_pool:  # that case's input is the broken pool file itself, left as given
        for path in results.glob("pools/**/candidates.jsonl"):
            read_records(path, "candidates")
    for path in results.glob("judge/*.sqlite"):
        if path.read_bytes()[:16] == b"SQLite format 3\x00":
            sqlite3.connect(path).execute("PRAGMA integrity_check").fetchall()
