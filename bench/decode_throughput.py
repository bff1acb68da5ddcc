"""Benchmark: decode throughput of the CPU backends on the embedded SmolLM2-135M-Instruct.

The same 8 short chat prompts (one-digit arithmetic questions), max_tokens 32, temperature 0.8,
top-p 0.95, one distinct seed per request, on

  hf        transformers, HFBackend(model="smollm2-135m", batch_size=8): one batch of 8
  llamacpp  in-process llama.cpp, LlamaCppBackend("smollm2-135m"): one request after another
  openai    OpenAIBackend against a local llama.cpp server (python -m llama_cpp.server) that this
            script starts on 127.0.0.1 and stops; concurrency 8 (the server serves one at a time)

Throughput = sum of completion_tokens / wall time of generate(), model load excluded; each backend
first answers one warm-up request, then the batch runs --repeats times (median reported). The
two llama.cpp paths use plain sampling (no top-k / min-p / repeat penalty), so their texts must be
equal seed by seed; the script checks that.

    python bench/decode_throughput.py                 # all three; table + bench/out/decode_throughput.json
    python bench/decode_throughput.py --threads 1     # llama.cpp threads (default: all cores)
    python bench/decode_throughput.py --torch-threads 1
    python bench/decode_throughput.py --only llamacpp,openai
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # llama_server.py: the server launcher the tests use

from harness.backends.base import GenRequest, SamplingParams  # noqa: E402

QUESTIONS = ["What is 3 + 4?", "What is 7 - 2?", "What is 6 * 8?", "What is 9 + 5?",
             "What is 8 - 3?", "What is 4 * 7?", "What is 2 + 9?", "What is 5 * 5?"]
PARAMS = SamplingParams(temperature=0.8, top_p=0.95, max_tokens=32)
OUT = ROOT / "bench" / "out" / "decode_throughput.json"


def requests() -> list[GenRequest]:
    return [GenRequest(seed=1000 + i, params=PARAMS, messages=(("user", f"{q} Answer with a number."),),
                       tag=i)
            for i, q in enumerate(QUESTIONS)]


def measure(name: str, make, repeats: int) -> dict:
    t0 = time.perf_counter()
    backend = make()
    load_s = time.perf_counter() - t0
    try:
        backend.generate([GenRequest(seed=1, params=SamplingParams(temperature=0.8, max_tokens=4),
                                     messages=(("user", "Hi"),))], progress=False)  # warm-up
        runs, texts = [], None
        for _ in range(repeats):
            batch = requests()
            t = time.perf_counter()
            results = backend.generate(batch, progress=False)
            wall = time.perf_counter() - t
            tokens = sum(r.completion_tokens or 0 for r in results)
            runs.append({"seconds": round(wall, 3), "completion_tokens": tokens,
                         "tok_per_s": round(tokens / wall, 1)})
            texts = texts or [r.text for r in results]
    finally:
        backend.close()
    best = statistics.median(r["tok_per_s"] for r in runs)
    print(f"  {name:<9} load {load_s:6.1f} s   "
          + "   ".join(f"{r['tok_per_s']:7.1f} tok/s ({r['seconds']:.2f} s)" for r in runs), flush=True)
    return {"backend": name, "load_seconds": round(load_s, 1), "runs": runs, "tok_per_s": round(best, 1),
            "texts": texts}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="hf,llamacpp,openai", help="comma list of backends")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="llama.cpp threads (both paths)")
    ap.add_argument("--torch-threads", type=int, default=None, help="torch threads (default: torch's own)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    only = [b.strip() for b in args.only.split(",") if b.strip()]

    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    print(f"decode throughput: 8 chat prompts x {PARAMS.max_tokens} max tokens, T={PARAMS.temperature}, "
          f"llama.cpp threads {args.threads}, torch threads {torch.get_num_threads()}", flush=True)
    rows: dict[str, dict] = {}
    # hf last: its module may be the newest in the tree; imported lazily either way.
    for name in [b for b in ("llamacpp", "openai", "hf") if b in only]:
        if name == "llamacpp":
            from harness.backends.llamacpp_backend import LlamaCppBackend

            rows[name] = measure(name, lambda: LlamaCppBackend("smollm2-135m", n_threads=args.threads),
                                 args.repeats)
        elif name == "openai":
            from harness.backends.openai_backend import LLAMA_CPP_PLAIN_SAMPLING, OpenAIBackend

            from llama_server import llama_server

            with llama_server(n_threads=args.threads) as url:
                rows[name] = measure(name, lambda: OpenAIBackend("smollm2-135m", url, concurrency=8,
                                                                 extra_body=LLAMA_CPP_PLAIN_SAMPLING),
                                     args.repeats)
        elif name == "hf":
            try:
                from harness.backends.hf_backend import HFBackend
            except ImportError as exc:
                print(f"  hf        skipped: {exc}")
                continue
            rows[name] = measure(name, lambda: HFBackend(model="smollm2-135m", batch_size=8), args.repeats)

    same = None
    if "llamacpp" in rows and "openai" in rows:
        same = rows["llamacpp"]["texts"] == rows["openai"]["texts"]
        print(f"  llama.cpp in-process and server texts equal seed by seed: {same}")
    print(f"\n| backend | tok/s (median of {args.repeats}) | load s |\n|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['tok_per_s']:.1f} | {row['load_seconds']:.1f} |")

    import llama_cpp  # noqa: F401  (version for the record)

    record = {
        "prompts": len(QUESTIONS), "max_tokens": PARAMS.max_tokens, "temperature": PARAMS.temperature,
        "top_p": PARAMS.top_p, "llama_cpp_threads": args.threads, "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(),
        "torch": torch.__version__,
        "llama_cpp_python": getattr(sys.modules.get("llama_cpp"), "__version__", None),
        "load_avg_1min": os.getloadavg()[0], "llamacpp_server_texts_equal": same,
        "results": {name: {k: v for k, v in row.items() if k != "texts"} for name, row in rows.items()},
        "sample_texts": {name: row["texts"][:2] for name, row in rows.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
