"""Grader failures in view: --max-grader-error-rate on the CLI, and the count on every leaderboard row."""

from __future__ import annotations

import json

from harness.cli import main


def _data(tmp_path):
    """Three problems; the second's reference is not parseable mathematics, so grading its
    candidates (other than an identical string) is a grader error, never a wrong answer."""
    data = tmp_path / "data" / "tiny"
    data.mkdir(parents=True)
    rows = [{"id": "tiny-0", "problem": "What is 2+3?", "answer": "5"},
            {"id": "tiny-1", "problem": "What is 1+1?", "answer": "\\frac{"},
            {"id": "tiny-2", "problem": "What is 3+3?", "answer": "6"}]
    (data / "problems.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pool = tmp_path / "pool.jsonl"
    cands = [{"problem_id": r["id"], "sample_index": i, "model": "m", "response": f"\\boxed{{{v}}}"}
             for r in rows for i, v in enumerate(("5", "6"))]
    pool.write_text("".join(json.dumps(c) + "\n" for c in cands))
    return tmp_path / "data", pool


def test_grader_errors_stop_a_run_over_the_limit_and_show_on_the_leaderboard(tmp_path, capsys):
    data, pool = _data(tmp_path)
    common = ["--data-dir", str(data), "--results-dir", str(tmp_path / "results")]
    assert main(["pool", "import", "--task", "math:tiny", str(pool), *common]) == 0
    capsys.readouterr()
    run = ["run", "--task", "math:tiny", "--pool", "m", "--selector", "first,majority", "--n", "1,2",
           "--quiet", *common]
    assert main([*run, "--max-grader-error-rate", "0.1"]) == 2  # 2 of 6 candidates could not be graded
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "2 of 6" in err[0] and "limit 10%" in err[0]
    assert main([*run, "--max-grader-error-rate", "0.5"]) == 0
    board = (tmp_path / "results" / "leaderboard.md").read_text()
    header = next(line for line in board.splitlines() if line.startswith("| Generator"))
    column = header.split("|").index(" Grader errors ")
    rows = [line.split("|") for line in board.splitlines() if line.startswith("| m |")]
    assert rows and all(row[column].strip() == "2" for row in rows)
    csv = (tmp_path / "results" / "leaderboard.csv").read_text().splitlines()
    assert "grader_errors" in csv[0].split(",")
