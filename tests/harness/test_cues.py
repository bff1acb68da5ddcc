"""Cue analysis (harness/cues.py) on runs whose judges follow a known rule."""

import re

import pytest

from harness.cli import main
from harness.config import RunConfig
from harness.cues import analyze_run
from harness.run import run
from harness.settings import Settings

from fakes import ScriptedBackend


def _answer_script(request):
    numbers = [int(x) for x in re.findall(r"\d+", request.messages[0][1])]
    return f"The answer is {numbers[0] + numbers[1] + request.seed % 3}."  # right, or off by 1 or 2


def _correct_judge(request):
    """Names the solution whose answer is the true sum (read from the prompt)."""
    text = request.messages[-1][1] if request.messages else request.prompt
    a, b = (int(x) for x in re.findall(r"has (\d+) \w+ and gets (\d+)", text)[0])
    answers = re.findall(r"Solution (\d+)[^\n]*\n+The answer is (\d+)", text)
    fallback = request.seed % max(1, len(answers))  # no correct one: a position that is not always 0
    return f"Judgment: {next((int(i) for i, x in answers if int(x) == a + b), fallback)}"


def _runs(tmp_path, judge_script):
    settings = Settings(results_dir=tmp_path / "results")
    config = RunConfig(task="arith:level=add1,n=8", selectors=("genselect",), model="smollm2-135m", samples=6,
                       ns=(1, 3, 6), llm_draws=4, progress=False, resamples=100)
    outcome = run(config, settings, log=lambda m: None,
                  generator_factory=lambda: ScriptedBackend(_answer_script),
                  judge_factory=lambda: ScriptedBackend(judge_script))
    return settings, outcome.records[0]


def test_a_judge_that_always_names_the_first_candidate_follows_position_only(tmp_path):
    settings, record = _runs(tmp_path, lambda r: "Judgment: 0")
    report = analyze_run(record, settings)
    assert report.parsed == report.calls > 0
    cues = {c.name: c for c in report.cues}
    assert cues["shown first"].picked == 1.0 and cues["shown first"].random < 0.5
    assert cues["shown last"].picked == 0.0
    for size, count, dist in report.positions:
        assert dist[0] == 1.0 and sum(dist) == pytest.approx(1.0) and count > 0
    # the first candidate shown is a random one: its correctness is the window's base rate
    assert abs(cues["correct"].lift) < 0.2


def test_a_judge_that_finds_the_right_answer_shows_correctness_not_position(tmp_path):
    settings, record = _runs(tmp_path, _correct_judge)
    report = analyze_run(record, settings)
    cues = {c.name: c for c in report.cues}
    # it names a correct candidate whenever the window has one
    assert cues["correct"].picked > 0.7 and cues["correct"].lift > 0.3
    assert abs(cues["shown first"].lift) < 0.25
    out = tmp_path / "cues.md"
    assert main(["cues", "--run", record.path.name, "--results-dir", str(settings.results_dir),
                 "--out", str(out)]) == 0
    text = out.read_text()
    assert f"| correct | {cues['correct'].picked:.3f} |" in text and "P(named position" in text


def test_a_run_without_selections_is_a_clear_error(tmp_path):
    settings = Settings(results_dir=tmp_path / "results")
    config = RunConfig(task="arith:level=add1,n=3", selectors=("majority",), model="smollm2-135m", samples=4,
                       ns=(1, 2), progress=False, resamples=100)
    record = run(config, settings, log=lambda m: None,
                 generator_factory=lambda: ScriptedBackend(_answer_script)).records[0]
    from harness.errors import DataError

    with pytest.raises(DataError, match="no selections.jsonl"):
        analyze_run(record, settings)
