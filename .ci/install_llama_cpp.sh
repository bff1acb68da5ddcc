#!/usr/bin/env bash
# Install llama-cpp-python (with its OpenAI-compatible server extra) into the active Python,
# plus httpx, which the openai backend and its tests (tests/harness/backends/test_openai_backend.py) use.
#
# llama-cpp-python ships only an sdist on PyPI, so pip compiles llama.cpp from source:
# about 8 minutes on 2 cores. The script is idempotent: it does nothing when
# `import llama_cpp.server, httpx` already works.
#
# Build: CPU only, GGML_NATIVE=OFF (no -march=native, so the binary does not depend on the exact
# CPU of the build machine); the x86-64-v3 instruction sets (AVX, AVX2, FMA, F16C) are switched on
# explicitly when this CPU has them, since without them decoding is several times slower.
# Override with CMAKE_ARGS=... in the environment; pin another version with LLAMA_CPP_VERSION=...
set -euo pipefail

PY="${PYTHON:-python}"
VERSION="${LLAMA_CPP_VERSION:-0.3.36}"

if "$PY" -c "import llama_cpp, llama_cpp.server, httpx" >/dev/null 2>&1; then
    echo "llama-cpp-python $("$PY" -c 'import llama_cpp; print(llama_cpp.__version__)') already installed"
    exit 0
fi

if [[ -z "${CMAKE_ARGS:-}" ]]; then
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_BLAS=OFF -DGGML_OPENMP=ON"
    CMAKE_ARGS+=" -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF"
    CMAKE_ARGS+=" -DLLAMA_CURL=OFF"
    if [[ "$(uname -m)" == "x86_64" ]] && grep -qw avx2 /proc/cpuinfo 2>/dev/null \
        && grep -qw fma /proc/cpuinfo && grep -qw f16c /proc/cpuinfo; then
        CMAKE_ARGS+=" -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
    fi
fi
export CMAKE_ARGS
jobs="${LLAMA_CPP_JOBS:-$(nproc 2>/dev/null || echo 2)}"
export MAKEFLAGS="-j${jobs}"
export CMAKE_BUILD_PARALLEL_LEVEL="${jobs}"

echo "building llama-cpp-python==${VERSION} (CMAKE_ARGS=${CMAKE_ARGS}, ${jobs} jobs); takes minutes" >&2
# pip caches the built wheel, so a fresh venv on the same machine installs it in seconds (the wheel
# needs AVX2 when it was built with it: pass PIP_NO_CACHE_DIR=1 on a shared cache across CPUs).
# An already installed llama-cpp-python of this version is kept: no rebuild.
"$PY" -m pip install --quiet "llama-cpp-python[server]==${VERSION}" "httpx>=0.25"
"$PY" -c "import llama_cpp, llama_cpp.server, httpx; print('llama-cpp-python', llama_cpp.__version__, 'installed')"
