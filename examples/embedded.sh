#!/usr/bin/env bash
# The main job, offline on 2 CPU cores: the embedded task (arith test split, 20 problems), the
# embedded model (SmolLM2-135M-Instruct, shipped in a PyPI wheel) generates N = 8 candidates per
# problem, then first / majority / genselect / oracle are scored at N = 1, 2, 4, 8, the
# leaderboard is refreshed and the scaling plot written. A rerun makes zero model calls.
set -euo pipefail
python -m harness run --task arith --model smollm2-135m --selector first,majority,genselect,oracle \
    --n 1,2,4,8 --llm-draws 2 "$@"
python -m harness plot --task arith
