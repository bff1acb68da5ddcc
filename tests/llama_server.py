"""A real llama.cpp OpenAI-compatible server for tests and benchmarks (llama-cpp-python's server).

`llama_server()` starts

    python -m llama_cpp.server --model <gguf> --host 127.0.0.1 --port <free port> --n_ctx 2048
        [--n_threads N --n_threads_batch N] --verbose False

in its own process group, waits until GET /v1/models answers, yields the base URL
(http://127.0.0.1:<port>/v1) and stops the whole group at the end. `llama_server_fixture` wraps it
as a pytest fixture; import this module from a test (tests/ is on sys.path under pytest).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

INSTALL_HINT = "llama-cpp-python is not installed: run .ci/install_llama_cpp.sh"


def llama_cpp_available() -> bool:
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def llama_server(gguf: str | os.PathLike | None = None, *, n_ctx: int = 2048, n_threads: int | None = None,
                 timeout: float = 120.0) -> Iterator[str]:
    from harness.backends.openai_backend import wait_ready

    if gguf is None:
        from harness.models import embedded_gguf_path

        gguf = embedded_gguf_path()
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", str(n_ctx), "--verbose", "False"]
    if n_threads:
        cmd += ["--n_threads", str(n_threads), "--n_threads_batch", str(n_threads)]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)  # own process group: stopped as a whole
        try:
            base_url = f"http://127.0.0.1:{port}/v1"
            try:
                wait_ready(base_url, timeout=timeout, interval=0.25, process=proc)
            except Exception as exc:
                log.seek(0)
                tail = log.read()[-3000:].decode(errors="replace")
                raise RuntimeError(f"llama.cpp server did not start ({exc}); command: {' '.join(cmd)}\n"
                                   f"{tail}") from exc
            yield base_url
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def gguf_path() -> Path:
    from harness.models import embedded_gguf_path

    return embedded_gguf_path()


try:
    import pytest

    @pytest.fixture(scope="module")
    def llama_server_fixture():
        """Base URL of a llama.cpp server for the module; skips when llama-cpp-python is missing."""
        if not llama_cpp_available():
            pytest.skip(INSTALL_HINT)
        try:
            gguf = gguf_path()
        except FileNotFoundError as exc:
            pytest.skip(str(exc))
        # One thread: llama.cpp's spinning thread barrier collapses (10x slower) when another
        # process shares the cores, as on busy 2-core CI boxes; a 135M model needs no more.
        with llama_server(gguf, n_threads=1) as url:
            yield url
except ImportError:  # used outside pytest (bench)
    pass
