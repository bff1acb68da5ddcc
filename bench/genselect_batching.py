"""Benchmark: GenSelect judge requests sent as one batch vs one request at a time.

Same process, same backend instance (hf, the embedded SmolLM2-135M, fp32 CPU), same prompts
and seeds: 16 GenSelect prompts over 4 arithmetic candidates each. The batched path is what
the estimator does for asking selectors (harness/evaluate.py: all requests of a round in one
generate call); the baseline sends
them one by one. Prints both wall times and writes bench/out/genselect_batching.json.

    python bench/genselect_batching.py [--prompts 16] [--max-tokens 32]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from harness.backends.base import GenRequest, SamplingParams
from harness.backends.hf_backend import HFBackend
from harness.selectors.genselect import GenSelect
from tasks.arith import arith


def prompts(count: int) -> list[str]:
    selector = GenSelect(judge_model="smollm2-135m")
    task = arith(None, f"level=mul1,n={count},split=train")
    out = []
    for problem, ref in zip(task.problems(), task.references().values()):
        truth = int(ref.answer)
        shown = [f"{problem.statement} The answer is {truth + d}." for d in (0, 1, -2, 10)]
        out.append(selector.build_prompt(problem.statement, shown))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16, help="the hf backend's default")
    args = parser.parse_args()
    backend = HFBackend("smollm2-135m", batch_size=args.batch_size)
    params = SamplingParams(temperature=0.6, top_p=0.95, max_tokens=args.max_tokens)
    requests = [GenRequest(seed=i, params=params, messages=(("user", p),))
                for i, p in enumerate(prompts(args.prompts))]
    backend.generate(requests[:2], progress=False)  # warm-up

    start = time.perf_counter()
    batched = backend.generate(requests, progress=False)
    t_batched = time.perf_counter() - start
    start = time.perf_counter()
    single = [backend.generate([r], progress=False)[0] for r in requests]
    t_single = time.perf_counter() - start

    same = sum(a.text == b.text for a, b in zip(batched, single))
    result = {"prompts": len(requests), "max_tokens": args.max_tokens, "batch_size": args.batch_size,
              "prompt_tokens_mean": sum(r.prompt_tokens for r in batched) / len(batched),
              "seconds_batched": round(t_batched, 2), "seconds_one_at_a_time": round(t_single, 2),
              "speedup": round(t_single / t_batched, 2), "identical_texts": same}
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "genselect_batching.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
