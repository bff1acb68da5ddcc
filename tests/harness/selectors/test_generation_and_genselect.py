"""arith task, generation into pools, GenSelect orchestration (scripted backend) and parsing."""

from __future__ import annotations

import re

import pytest

from harness.config import RunConfig
from harness.generate import GenerationConfig, generate_pool
from harness.jsonl import read_records
from harness.pools import PoolStore
from harness.run import run
from harness.selectors.judgment import parse_judgment
from harness.settings import Settings
from tasks.arith import LEVELS, ArithTask, arith, split_of

from fakes import ScriptedBackend


# -- arith ---------------------------------------------------------------------------------------
def test_arith_is_seeded_exact_and_split_disjoint():
    a, b = arith(None, "level=single,n=20,seed=0"), arith(None, "level=single,n=20,seed=0")
    assert [p.statement for p in a.problems()] == [p.statement for p in b.problems()]
    assert a.name == "arith"
    refs = a.references()
    for problem in a.problems():
        op, operands = problem.metadata["op"], problem.metadata["operands"]
        expected = {"add1": sum(operands), "sub1": operands[0] - operands[1],
                    "mul1": operands[0] * operands[1]}[op]
        assert int(refs[problem.id].answer) == expected
        assert split_of(op, tuple(operands)) == "test"
    train = arith(None, "level=single,n=150,split=train")
    assert not {p.id for p in train.problems()} & {p.id for p in arith(None, "n=36").problems()}
    assert arith(None, "seed=1").problems() != a.problems()
    with pytest.raises(Exception, match="level"):
        arith(None, "level=calculus")
    assert set(LEVELS) >= {"add1", "sub1", "mul1", "add2", "two-step"}


# -- generation (orchestration with a scripted backend) -------------------------------------------
def _answer_script(request):
    numbers = [int(x) for x in re.findall(r"\d+", request.messages[0][1])]
    return f"The answer is {numbers[0] + numbers[1] + request.seed % 2}."  # right or off by one


def test_generation_is_resumable_and_grows(tmp_path):
    task = ArithTask(level="add1", n=5)
    store = PoolStore(tmp_path / "pools")
    backend = ScriptedBackend(_answer_script)
    config = GenerationConfig(model="smollm2-135m", n=4, chunk=6)
    report = generate_pool(task, config, store, backend_factory=lambda: backend, progress=False)
    assert report.generated == 20 and backend.calls == 20 and backend.closed
    assert len(backend.batches) == 4  # chunks of 6: appended after each one
    seeds = {c.seed for cands in report.pool.candidates().values() for c in cands}
    assert len(seeds) == 20  # one distinct seed per candidate
    again = generate_pool(task, config, store, backend_factory=lambda: pytest.fail("no model call expected"),
                          progress=False)
    assert again.generated == 0 and again.already_present == 20
    grown_backend = ScriptedBackend(_answer_script)
    grown = generate_pool(task, GenerationConfig(model="smollm2-135m", n=6), store,
                          backend_factory=lambda: grown_backend, progress=False)
    assert grown.generated == 10 and grown.pool.key == report.pool.key
    assert sorted({r.tag[1] for r in grown_backend.batches[0]}) == [4, 5]


# -- GenSelect orchestration -----------------------------------------------------------------------
def _judge_script(request):
    """Pick the solution whose stated answer is right; garble every 5th reply."""
    prompt = request.messages[0][1]
    if request.seed % 5 == 0:
        return "I cannot decide."
    numbers = [int(x) for x in re.findall(r"\d+", prompt.split("Problem:")[1].split("Solution 0:")[0])]
    truth = numbers[0] + numbers[1]
    answers = re.findall(r"Solution (\d+):\nThe answer is (\d+)", prompt)
    best = next((int(i) for i, a in answers if int(a) == truth), 0)
    return f"Comparing... **Judgment:** {best}"


def test_genselect_batches_caches_and_counts_fallbacks(tmp_path):
    settings = Settings(results_dir=tmp_path / "results")
    gen = ScriptedBackend(_answer_script)
    judge = ScriptedBackend(_judge_script)
    config = RunConfig(task="arith:level=add1,n=6", selectors=("first", "majority", "genselect", "oracle"),
                       model="smollm2-135m", samples=12, ns=(1, 2, 4, 12), window=4, llm_draws=3,
                       judge_chunk=1000, progress=False, resamples=200)
    outcome = run(config, settings, log=lambda m: None, generator_factory=lambda: gen,
                  judge_factory=lambda: judge)
    by = {r.selector: r for r in outcome.records}
    gs = by["genselect"].info
    # N = 12 with windows of 4 is a 2-round knockout; every round is one batch for all problems.
    assert gs.llm.calls == judge.calls and len(judge.batches) == 2
    assert gs.llm.fallbacks > 0 and 0 < gs.llm.parse_failure_rate < 0.5
    acc = {p.n: p.accuracy for p in gs.summary}
    first = {p.n: p.accuracy for p in by["first"].summary}
    oracle = {p.n: p.accuracy for p in by["oracle"].summary}
    assert acc[1] == pytest.approx(first[1])  # N = 1: exact over all candidates, no judge call
    assert gs.summary[0].methods == {"exact": 6}
    assert acc[12] > first[12] + 0.1 and acc[12] <= oracle[12] + 1e-9
    _, selections = read_records(by["genselect"].path / "selections.jsonl", "selections")
    assert len(selections) == 6 * (12 + 3 * 3)  # problems x (12 singletons at N = 1 + 3 draws at 3 N)
    # Rerun: the judge cache answers everything, so no model is created at all.
    rerun = run(config, settings, log=lambda m: None,
                generator_factory=lambda: pytest.fail("generator called"),
                judge_factory=lambda: pytest.fail("judge called"))
    rerun_gs = next(r for r in rerun.records if r.selector == "genselect").info
    assert rerun_gs.llm.calls == 0 and rerun_gs.llm.cached == gs.llm.windows_judged
    assert [p.accuracy for p in rerun_gs.summary] == [p.accuracy for p in gs.summary]
    # Cost in the record: the scripted backend reports 10 prompt + 5 completion tokens a call, so a
    # candidate cost 5 tokens and a judge call 15; at N = 12 a selection is a 3-window round and a
    # final (at most 4 calls, fewer when a window's answers agree); voting calls no model.
    for point in gs.summary:
        assert point.generation_tokens == pytest.approx(5.0 * point.n)
    cost = {p.n: p.selection_tokens for p in gs.summary}
    assert cost[1] == 0 and 0 < cost[4] <= 15 and 15 < cost[12] <= 4 * 15
    assert all(p.selection_tokens == 0 for p in by["majority"].info.summary)
    from harness.plots import plot_compute

    png = plot_compute(settings, outcome.records[0].info.task.name)
    assert png.name.startswith("compute_") and png.stat().st_size > 10_000


def test_genselect_skips_the_judge_when_all_answers_agree(tmp_path):
    settings = Settings(results_dir=tmp_path / "results")
    gen = ScriptedBackend(lambda r: "The answer is 7.")
    judge = ScriptedBackend(lambda r: "Judgment: 0")
    config = RunConfig(task="arith:level=add1,n=3", selectors=("genselect",), model="smollm2-135m", samples=4,
                       ns=(4,), progress=False, resamples=200)
    outcome = run(config, settings, log=lambda m: None, generator_factory=lambda: gen,
                  judge_factory=lambda: judge)
    assert judge.calls == 0 and outcome.records[0].info.llm.skipped_windows == 3 * 4


@pytest.mark.parametrize("text,n,expected", [
    ("Judgment: 3", 5, 3), ("**Judgment:** 2", 5, 2), ("judgement : 1", 5, 1), ("Judgment: [4]", 5, 4),
    ("**Judgment: 4**", 5, 4), ("Judgment:\t0", 1, 0), ("<think>Judgment: 1</think>\nJudgment: 0", 5, 0),
    ("<think>Judgment: 1</think> no verdict", 5, None), ("<think>Judgment: 1", 5, None),
    ("Judgment: 9", 5, None), ("Judgment: -1", 5, None), ("Judgment: 1\nJudgment: 2", 5, 2),
    ("", 5, None), (None, 5, None), ("The best is solution 2", 5, None), ("Judgment: two", 5, None),
])
def test_parse_judgment(text, n, expected):
    assert parse_judgment(text, n) == expected


def test_rl_genselect_without_checkpoint_says_how_to_get_one(tmp_path, monkeypatch):
    import harness.checkpoints as checkpoints
    from harness.selectors.genselect import RLGenSelect

    # no registered checkpoint, and no shipped one either (not even this checkout's)
    monkeypatch.setattr(checkpoints, "REPO_SHIPPED", tmp_path / "none")
    with pytest.raises(checkpoints.NoCheckpointError, match="python -m harness train"):
        RLGenSelect.from_checkpoint(str(tmp_path))


def test_tournament_repeats_vote_over_winners(tmp_path):
    """N > window: R knockouts under permutations of the same candidates, then a vote of winners."""
    gen = ScriptedBackend(_answer_script)
    honest = ScriptedBackend(_judge_script_no_garble)
    base = dict(task="arith:level=add1,n=4", selectors=("genselect", "oracle"), model="smollm2-135m",
                samples=12, ns=(12,), window=4, llm_draws=2, judge_chunk=1000, progress=False, resamples=200)
    one = run(RunConfig(**base), Settings(results_dir=tmp_path / "a"), log=lambda m: None,
              generator_factory=lambda: gen, judge_factory=lambda: honest)
    calls_one = honest.calls
    three = run(RunConfig(**base, tournament_repeats=3), Settings(results_dir=tmp_path / "b"),
                log=lambda m: None, generator_factory=lambda: ScriptedBackend(_answer_script),
                judge_factory=lambda: honest)
    assert honest.calls - calls_one > 2 * calls_one - 4  # about three times the knockouts
    record = next(r for r in three.records if r.selector == "genselect")
    _, rows = read_records(record.path / "selections.jsonl", "selections")
    assert len(rows) == 4 * 2  # one merged selection per (problem, draw)
    assert all(abs(sum(row["choice"].values()) - 1.0) < 1e-9 for row in rows)
    oracle = next(r for r in three.records if r.selector == "oracle").summary[0].accuracy
    assert record.summary[0].accuracy == pytest.approx(oracle)  # an honest judge always finds a correct one
    assert one.records[0].summary[0].accuracy == pytest.approx(oracle)


def _judge_script_no_garble(request):
    """The scripted judge without its every-fifth garbled reply."""
    return _judge_script(type("Request", (), {"seed": 1, "messages": request.messages})())


def test_genselect_at_n1_makes_no_judge_call_and_equals_first(tmp_path):
    """N = 1 is exact for every selector: all singletons, no model call, the same as `first`."""
    gen = ScriptedBackend(_answer_script)
    config = RunConfig(task="arith:level=add1,n=5", selectors=("first", "genselect", "majority"),
                       model="smollm2-135m", samples=6, ns=(1,), progress=False, resamples=200)
    outcome = run(config, Settings(results_dir=tmp_path / "results"), log=lambda m: None,
                  generator_factory=lambda: gen, judge_factory=lambda: pytest.fail("no judge call at N = 1"))
    by = {r.selector: r for r in outcome.records}
    assert by["genselect"].info.llm.calls == 0 and by["genselect"].info.llm.windows_judged == 0
    assert by["genselect"].summary[0].accuracy == pytest.approx(by["first"].summary[0].accuracy)
    assert by["genselect"].summary[0].methods == {"exact": 5}


def test_one_estimation_path_for_vector_and_asking_selectors(tmp_path):
    """Scripted judge that always names Solution 0 behaves exactly like `first` on the same subsets."""
    import numpy as np

    from harness.evaluate import EvalOptions, estimate
    from harness.judging import Judging
    from harness.selectors.base import ProblemPool
    from harness.selectors.genselect import GenSelect
    from harness.selectors.simple import First
    from harness.types import Problem

    rng = np.random.default_rng(3)
    pools, correct = [], []
    for k in range(5):
        clusters = rng.permutation(7)  # every answer different: the judge is asked in every window
        pools.append(ProblemPool(problem=Problem(f"p{k}", "t", f"problem {k}"), clusters=clusters,
                                 texts=tuple(f"answer {c}" for c in clusters)))
        correct.append((rng.random(7) < 0.4).astype(float))
    judge = ScriptedBackend(lambda r: "Judgment: 0")
    judging = Judging(tmp_path / "judge", backend_factory=lambda spec, options: judge, chunk=10**6)
    options = EvalOptions(progress=False, resamples=200, llm_draws=500)
    out = estimate([First(), GenSelect(judge_model="smollm2-135m", window=8)], pools, correct, (1, 3, 7),
                   options, judging)
    # A judge that always names Solution 0 is `first`: exact at N = 1, within sampling error above.
    first, gs = out["first"].results, out["genselect"].results
    assert gs[0].accuracy == pytest.approx(first[0].accuracy) and gs[0].methods == {"exact": 5}
    for a, b in zip(first[1:], gs[1:]):
        assert b.methods == {"sampled": 5} and b.draws == 5 * 500
        assert abs(a.accuracy - b.accuracy) < 0.05
    assert out["genselect"].judge.calls == judge.calls == 5 * 500 * 2
    assert len(judge.batches) == 1  # one round (N <= window): every request of N = 3 and 7 in one batch


def test_unfinished_thinking_has_no_answer_and_is_counted(tmp_path):
    """A candidate whose <think> never closed gives no answer (a boxed draft inside is not graded)."""
    def script(request):
        numbers = [int(x) for x in re.findall(r"\d+", request.messages[0][1])]
        right = numbers[0] + numbers[1]
        if request.seed % 2:
            return f"<think>it is {right}, so \\boxed{{{right}}}, but let me check"  # cut off while thinking
        return f"<think>ok</think>The answer is {right}."

    config = RunConfig(task="arith:level=add1,n=4", selectors=("first", "oracle"), model="smollm2-135m",
                       samples=6, ns=(1,), progress=False, resamples=200)
    outcome = run(config, Settings(results_dir=tmp_path / "results"), log=lambda m: None,
                  generator_factory=lambda: ScriptedBackend(script))
    counts = outcome.records[0].info.candidates
    unfinished = sum(c.text.startswith("<think>it") for cs in outcome.pool.candidates().values() for c in cs)
    assert counts.total == 24 and counts.unfinished_thinking == unfinished > 0
    first = outcome.records[0].summary[0].accuracy
    assert first == pytest.approx(1 - unfinished / 24)  # only the finished ones are right
