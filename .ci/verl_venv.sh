#!/usr/bin/env bash
# A separate virtual environment with the real verl, for tests/trainers/test_verl_conformance.py.
# verl 0.9.1 pins transformers < 5.11 while the main venv has a newer transformers 5.x, so verl
# lives in .venv-verl (gitignored; VERL_VENV overrides the path). Idempotent: a venv that already
# has verl 0.9.1 and the modules below is kept. One pip command; torch is pinned in it (the CPU
# build; unpinned, pip would fetch a CUDA one). TransferQueue, cachetools, fastapi and uvicorn are
# from verl's own `verl-core` extra: main_ppo's V1 trainer (verl.trainer.ppo.v1) imports them, and
# the check calls its filter_groups resolution. About 2.5 minutes on 2 cores, 1.9 GB.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VERL_VENV:-.venv-verl}
VERL_VERSION=0.9.1
if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" - "$VERL_VERSION" <<'EOF' 2>/dev/null
import importlib.metadata as metadata
import importlib.util
import sys

modules = ("verl", "torch", "pandas", "pyarrow", "transfer_queue", "cachetools", "fastapi", "uvicorn")
ok = metadata.version("verl") == sys.argv[1] and all(importlib.util.find_spec(m) for m in modules)
sys.exit(0 if ok else 1)
EOF
then
  echo "verl venv: $VENV has verl $VERL_VERSION" >&2
  exit 0
fi
start=$(date +%s)
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet "verl==$VERL_VERSION" torch==2.13.0 pyarrow pandas \
  TransferQueue==0.1.11 cachetools fastapi uvicorn
echo "verl venv: installed verl $VERL_VERSION into $VENV in $(( $(date +%s) - start )) s" >&2
