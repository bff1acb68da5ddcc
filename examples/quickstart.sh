#!/usr/bin/env bash
# Offline end to end on real model outputs: import the math_l5 cross-model pool (12 models' answers
# to 360 MATH level-5 problems), grade with math-verify, run selectors at N = 1..12, then write the
# leaderboard and the scaling plot. Usage: bash examples/quickstart.sh [DATA_DIR (default ../shared/data)]
set -euo pipefail
DATA="${1:-${HARNESS_DATA_DIR:-../shared/data}}"
export HARNESS_DATA_DIR="$DATA"
python -m harness pool import --task math_l5 "$DATA"/pools/math_l5/*.jsonl
python -m harness run --task math_l5 --pool cross-model --selector first,majority,oracle --n 1-12
python -m harness leaderboard
python -m harness plot --task math_l5
