"""`compare`: the same selectors on pools of two generators, one table with paired differences."""

from __future__ import annotations

import re

from harness.compare import compare
from harness.config import CompareConfig
from harness.generate import GenerationConfig, generate_pool
from harness.pools import PoolStore
from harness.settings import Settings
from tasks.arith import ArithTask

from fakes import ScriptedBackend


def _generator(offset_every: int):
    def script(request):
        numbers = [int(x) for x in re.findall(r"\d+", request.messages[0][1])]
        wrong = request.seed % offset_every == 0
        return f"The answer is {numbers[0] + numbers[1] + (1 if wrong else 0)}."
    return script


def test_compare_two_generators_pairs_against_majority(tmp_path, monkeypatch):
    settings = Settings(results_dir=tmp_path / "results")
    task = ArithTask(level="add1", n=6)
    store = PoolStore(settings.pools_dir)
    for model, every in (("smollm2-135m", 2), ("Qwen/Qwen3-1.7B", 5)):
        generate_pool(task, GenerationConfig(model=model, n=6), store,
                      backend_factory=lambda every=every: ScriptedBackend(_generator(every)), progress=False)
    refreshes = []
    import harness.leaderboard as board

    original = board.refresh_leaderboard
    monkeypatch.setattr(board, "refresh_leaderboard", lambda s, n=None: refreshes.append(1) or original(s, n))
    config = CompareConfig(task="arith:level=add1,n=6", selectors=("first", "majority", "oracle"),
                           pools=("smollm2", "qwen3"), ns=(1, 2, 4, 6), progress=False, resamples=200)
    result = compare(config, settings, log=lambda m: None)
    assert len(refreshes) == 1  # once for the whole command, not once per pool
    lines = result.table.splitlines()
    assert "smollm2-135m" in lines[2] and "Qwen/Qwen3-1.7B" in lines[2]
    first = next(line for line in lines if line.startswith("| first "))
    assert first.count("Δ majority") == 2
    assert "Δ" not in next(line for line in lines if line.startswith("| oracle (upper bound)"))
    assert result.plot.exists()
