"""Math tasks: local sources, hub adapters (through a local dataset path), versions, clear errors."""

from __future__ import annotations

import json

import pytest

from harness.plugins import load_task
from harness.settings import Settings
from harness.task import TaskDataError


@pytest.mark.parametrize("name,count,first_id", [("aime24", 30, "aime24-2024-I-01"),
                                                 ("aime25", 30, "aime25-2025-I-01"),
                                                 ("hmmt25", 30, "hmmt_feb25-01"),
                                                 ("math_cot_100", 100, "math_cot_100-000"),
                                                 ("math_l5", 360, "math_l5-000"),
                                                 ("math:math_l5", 360, "math_l5-000")])
def test_local_sources(settings, name, count, first_id):
    task = load_task(name, settings)
    problems = task.problems()
    assert len(problems) == count and problems[0].id == first_id
    assert task.source.startswith("local:")
    refs = task.references()
    assert set(refs) == {p.id for p in problems}
    assert not hasattr(problems[0], "answer")  # selectors never see the gold answer
    assert task.version and task.grader().version in task.version


def test_hub_adapter_maps_matharena_rows_to_local_ids(tmp_path, data_dir):
    """A file in the hub dataset's schema (MathArena: problem_idx, problem, answer) read through
    the real `datasets` loader gets the same ids as the local copy, so pools match either source."""
    local = [json.loads(line) for line in (data_dir / "aime25" / "problems.jsonl").read_text().splitlines()]
    hub_rows = [{"problem_idx": i + 1, "problem": row["problem"], "answer": row["answer"],
                 "problem_type": ["Algebra"]} for i, row in enumerate(local)]
    mirror = tmp_path / "aime_2025.jsonl"
    mirror.write_text("\n".join(json.dumps(r) for r in hub_rows) + "\n")
    task = load_task("aime25", Settings(results_dir=tmp_path), hub_id=str(mirror))
    assert task.source == f"hub:{mirror}"
    assert [p.id for p in task.problems()] == [row["id"] for row in local]
    assert task.references()["aime25-2025-II-07"].answer == next(r["answer"] for r in local
                                                                 if r["id"] == "aime25-2025-II-07")


def test_missing_data_says_how_to_point_at_local_files(tmp_path):
    task = load_task("math_l5", Settings(results_dir=tmp_path, data_dir=tmp_path / "nowhere"))
    with pytest.raises(TaskDataError, match="--data-dir DIR or HARNESS_DATA_DIR"):
        task.problems()
    offline = load_task("aime24", Settings(results_dir=tmp_path), hub_id=str(tmp_path / "no-such-dataset"))
    with pytest.raises(TaskDataError, match="Point the task at local files"):
        offline.problems()
    with pytest.raises(TaskDataError, match="needs a dataset name"):
        load_task("math", Settings(results_dir=tmp_path)).problems()


def test_cli_reports_unknown_task_with_suggestion(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "harness", "run", "--task", "aime2024", "--selector",
                           "majority", "--pool", "x", "--results-dir", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown task 'aime2024'" in proc.stderr and "aime24" in proc.stderr


def test_one_rule_picks_local_data_or_the_hub(tmp_path):
    """tasks.sources.load_rows: an explicit hub id or use_hub -> hub; else the local file if the data
    folder holds it; else the default hub dataset; else an error saying how to point at local data."""
    from tasks.sources import load_rows

    data = tmp_path / "data"
    (data / "aime24").mkdir(parents=True)
    (data / "aime24" / "problems.jsonl").write_text('{"id": "a", "problem": "p", "answer": "1"}\n')
    settings = Settings(results_dir=tmp_path, data_dir=data)

    def hub(hub_id):
        return [{"hub": hub_id}], f"hub:{hub_id}"

    local = load_rows("aime24", settings, default_hub_id="Org/x", hub_reader=hub)
    assert not local.from_hub and local.source.startswith("local:") and local.rows[0]["id"] == "a"
    assert load_rows("aime24", settings, hub_id="Org/y", hub_reader=hub).rows == [{"hub": "Org/y"}]
    forced = load_rows("aime24", settings, default_hub_id="Org/x", use_hub=True, hub_reader=hub)
    assert forced.source == "hub:Org/x"
    assert load_rows("other", settings, default_hub_id="Org/x", hub_reader=hub).from_hub
    with pytest.raises(TaskDataError, match="no hub dataset and no local file"):
        load_rows("other", settings)
    (data / "aime24" / "problems.jsonl").write_text('{"id": "a"}\n{"id": \n')
    with pytest.raises(TaskDataError, match=r"aime24/problems\.jsonl:2: not valid JSON"):
        load_rows("aime24", settings)
