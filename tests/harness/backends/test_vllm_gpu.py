"""GPU tier: vLLM backend parity with the hf backend on the embedded model (skipped without CUDA)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_vllm_greedy_matches_hf_and_seeds_differ():
    pytest.importorskip("vllm")
    from harness.backends.base import GenRequest, SamplingParams
    from harness.backends.hf_backend import HFBackend
    from harness.backends.vllm_backend import VLLMBackend

    greedy = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=16)
    prompts = ["What is 2 + 3? Answer with a number.", "Name a prime number larger than 10."]
    requests = [GenRequest(seed=i, params=greedy, messages=(("user", p),)) for i, p in enumerate(prompts)]
    vllm = VLLMBackend("smollm2-135m", gpu_memory_utilization=0.3, enforce_eager=True)
    hf = HFBackend("smollm2-135m", device="cuda")
    v_out = vllm.generate(requests, progress=False)
    h_out = hf.generate(requests, progress=False)
    assert [o.text.strip()[:20] for o in v_out] == [o.text.strip()[:20] for o in h_out]
    sampled = SamplingParams(temperature=1.0, top_p=1.0, max_tokens=16)
    group = [GenRequest(seed=100 + i, params=sampled, messages=(("user", prompts[0]),)) for i in range(4)]
    first = [o.text for o in vllm.generate(group, progress=False)]
    again = [o.text for o in vllm.generate(group, progress=False)]
    assert first == again and len(set(first)) > 1
