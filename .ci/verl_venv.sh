#!/usr/bin/env bash
# A separate virtual environment with the real verl, for tests/test_verl_conformance.py.
# verl 0.9.1 pins transformers < 5.11 while the main venv has transformers 5.x newer than that,
# so verl lives in .venv-verl (gitignored). Idempotent: an existing venv with verl 0.9.1 is kept.
# torch is pinned in the same pip command (the CPU build; unpinned, pip would fetch a CUDA one).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-verl
VERL_VERSION=0.9.1
if [[ -x "$VENV/bin/python" ]] \
  && "$VENV/bin/python" -c "import importlib.metadata as m, sys; \
sys.exit(m.version('verl') != '$VERL_VERSION')" 2>/dev/null; then
  echo "verl venv: $VENV has verl $VERL_VERSION" >&2
  exit 0
fi
start=$(date +%s)
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet "verl==$VERL_VERSION" torch==2.13.0 pyarrow pandas
echo "verl venv: installed verl $VERL_VERSION into $VENV in $(( $(date +%s) - start )) s" >&2
