#!/usr/bin/env bash
# Launch DAPO training of a GenSelect selector on a Ray cluster with verl's own entry point.
#
#   bash trainers/launch_verl.sh EXPORT_DIR [more Hydra overrides ...]
#
# EXPORT_DIR is written by `python -m trainers.verl_export` (train/val parquet, overrides.txt).
# The parquet paths in overrides.txt are absolute: put EXPORT_DIR on storage every node sees.
# The overrides are verl 0.9.1's keys (the cluster needs verl 0.9): the reward under reward.*
# (reward.custom_reward_function.{path,name}, reward.reward_manager.name, +reward.reward_kwargs).
# The legacy top-level custom_reward_function / reward_model.* / sandbox_fusion.* keys are still in
# verl 0.9's schema but main_ppo ignores them (it would train with the naive reward manager and
# the default scorer), so this script refuses them, in overrides.txt and on its command line.
# Environment:
#   RAY_ADDRESS   Ray dashboard address            (default http://127.0.0.1:8265)
#   WORKING_DIR   code shipped to the job          (default: this repository; results/ is excluded)
#   VERL_ENTRY    Python module to run             (default verl.trainer.main_ppo: in verl 0.9 its
#                 default V1 sync trainer does dynamic sampling, algorithm.filter_groups, in
#                 its ReplayBuffer; see the note in EXPORT_DIR/verl-dapo.yaml)
#   RUNTIME_ENV   a Ray runtime-env YAML           (optional; replaces the default excludes)
#   NO_WAIT=1     submit and return (ray job submit --no-wait)
set -euo pipefail

if [[ $# -lt 1 || ! -f "$1/overrides.txt" ]]; then
  echo "usage: $0 EXPORT_DIR [hydra overrides...]" \
       "(EXPORT_DIR/overrides.txt from trainers/verl_export.py)" >&2
  exit 2
fi
EXPORT_DIR=$(cd "$1" && pwd)
shift

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RAY_ADDRESS=${RAY_ADDRESS:-http://127.0.0.1:8265}
WORKING_DIR=${WORKING_DIR:-$REPO_ROOT}
VERL_ENTRY=${VERL_ENTRY:-verl.trainer.main_ppo}

mapfile -t OVERRIDES < <(grep -v -e '^[[:space:]]*$' -e '^[[:space:]]*#' "$EXPORT_DIR/overrides.txt")

LEGACY='^[+~]*(custom_reward_function|reward_model|sandbox_fusion)([.=]|$)'
for override in "${OVERRIDES[@]}" "$@"; do
  if [[ "$override" =~ $LEGACY ]]; then
    echo "$0: '$override' is a legacy verl key that verl 0.9's main_ppo ignores;" \
         "use reward.custom_reward_function.*, reward.reward_manager.name or +reward.reward_kwargs.*" >&2
    exit 2
  fi
done

SUBMIT=(ray job submit --address="$RAY_ADDRESS" --working-dir "$WORKING_DIR")
if [[ -n "${RUNTIME_ENV:-}" ]]; then
  SUBMIT+=(--runtime-env="$RUNTIME_ENV")
else
  EXCLUDES='["results/", ".git/", "*.parquet", "*.safetensors"]'
  ENV_VARS='{"TOKENIZERS_PARALLELISM": "true", "VLLM_USE_V1": "1"}'
  SUBMIT+=(--runtime-env-json="{\"excludes\": $EXCLUDES, \"env_vars\": $ENV_VARS}")
fi
if [[ "${NO_WAIT:-0}" == "1" ]]; then
  SUBMIT+=(--no-wait)
fi

echo "submitting $VERL_ENTRY with ${#OVERRIDES[@]} overrides from $EXPORT_DIR to $RAY_ADDRESS" >&2
exec "${SUBMIT[@]}" -- python3 -m "$VERL_ENTRY" "${OVERRIDES[@]}" "$@"
