"""OpenAI-compatible backend: real generation against a local llama.cpp server, retry policy
against a scripted fake server (both on 127.0.0.1 only), and the in-process llama.cpp backend."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("httpx", reason="the openai backend needs httpx: pip install -e '.[openai]' "
                                    "(or run .ci/install_llama_cpp.sh, which installs it)")

from harness.backends.base import BackendError, GenRequest, GenResult, SamplingParams
from harness.backends.openai_backend import LLAMA_CPP_PLAIN_SAMPLING, OpenAIBackend, _normalise_base_url

from llama_server import INSTALL_HINT, free_port, llama_cpp_available, llama_server_fixture  # noqa: F401

QUESTION = (("user", "What is 3 + 4? Answer with a number."),)
HOT = SamplingParams(temperature=1.0, top_p=1.0, max_tokens=16)


def chat(seed: int, params: SamplingParams = HOT, content: str | None = None) -> GenRequest:
    messages = QUESTION if content is None else (("user", content),)
    return GenRequest(seed=seed, params=params, messages=messages)


# -- real llama.cpp server ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(llama_server_fixture):  # noqa: F811
    return llama_server_fixture


@pytest.fixture
def backend(server):
    b = OpenAIBackend("smollm2-135m", server, concurrency=4, max_retries=2, backoff_s=0.05)
    yield b
    b.close()


def test_server_lists_its_model(backend):
    assert backend.health()
    models = backend.wait_ready(timeout=5)
    assert models and models[0].endswith(".gguf")


def test_chat_and_completion_return_text_and_token_counts(backend):
    results = backend.generate([chat(1), GenRequest(seed=1, params=HOT, prompt="The capital of France is")],
                               progress=False)
    assert len(results) == 2
    for r in results:
        assert isinstance(r, GenResult) and r.text.strip()
        assert r.finish_reason in ("stop", "length")
        assert r.prompt_tokens and r.prompt_tokens > 0
        assert r.completion_tokens is not None and 0 < r.completion_tokens <= HOT.max_tokens
        if r.finish_reason == "length":
            assert r.completion_tokens == HOT.max_tokens
    chat_r, completion_r = results
    assert chat_r.prompt_tokens > completion_r.prompt_tokens  # the chat template wraps the message


def test_same_seed_same_text_different_seeds_differ(backend):
    # Seed 11 twice, with other seeds in flight between the two, at temperature 1.0.
    seeds = [11, 12, 13, 14, 11, 15, 16, 17]
    texts = [r.text for r in backend.generate([chat(s) for s in seeds], progress=False)]
    assert texts[0] == texts[4]
    assert len({t for s, t in zip(seeds, texts) if s != 11} | {texts[0]}) >= 3
    # And again in a separate call: the text is a function of the seed, not of the call.
    assert backend.generate([chat(11)], progress=False)[0].text == texts[0]


def test_batch_with_concurrency_returns_results_in_request_order(backend):
    params = SamplingParams(temperature=0.8, top_p=0.95, max_tokens=6)
    # Prompts of strictly growing length: the prompt token counts prove the order.
    requests = [GenRequest(seed=100 + i, params=params,
                           prompt="Count: " + " ".join(str(j) for j in range(3 * i + 1)))
                for i in range(8)]
    results = backend.generate(requests, progress=False)
    counts = [r.prompt_tokens for r in results]
    assert len(results) == 8 and counts == sorted(counts) and len(set(counts)) == 8
    assert backend.stats["retries"] == 0


def test_stop_strings_and_top_k_are_accepted(backend):
    params = SamplingParams(temperature=0.8, top_p=0.95, top_k=20, max_tokens=16, stop=("\n", "."))
    r = backend.generate([GenRequest(seed=3, params=params, prompt="Paris is the capital of")],
                         progress=False)[0]
    assert "\n" not in r.text and "." not in r.text


def test_http_404_fails_at_once_without_retries(server):
    b = OpenAIBackend("smollm2-135m", server + "/no-such-route", max_retries=5, backoff_s=5.0)
    t0 = time.monotonic()
    with pytest.raises(BackendError, match="404"):
        b.generate([chat(1)], progress=False)
    assert b.stats["attempts"] == 1 and b.stats["retries"] == 0
    assert time.monotonic() - t0 < 5.0  # no backoff sleep happened


def test_http_400_context_overflow_fails_at_once_with_server_message(backend):
    long_prompt = "word " * 3000  # > n_ctx 2048: llama.cpp answers 400 context_length_exceeded
    with pytest.raises(BackendError, match=r"400.*context") as info:
        backend.generate([chat(1, content=long_prompt)], progress=False)
    assert "not retried" in str(info.value)
    assert backend.stats["attempts"] == 1


# -- retry policy against a scripted fake server ------------------------------------------------


class _Fake:
    """A tiny OpenAI-ish server on 127.0.0.1 that answers from a script of status codes."""

    def __init__(self, script: list[int], retry_after: str | None = None) -> None:
        self.script = list(script)
        self.retry_after = retry_after
        self.hits: list[tuple[str, dict, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                fake.hits.append((self.path, body, dict(self.headers)))
                status = fake.script.pop(0) if fake.script else 200
                if status == 200:
                    if self.path.endswith("/chat/completions"):
                        choice = {"index": 0,
                                  "message": {"role": "assistant", "content": f"seed={body['seed']}"},
                                  "finish_reason": "length"}
                    else:
                        choice = {"index": 0, "text": f"seed={body['seed']}", "finish_reason": "eos"}
                    payload = {"choices": [choice], "usage": {"prompt_tokens": 7, "completion_tokens": 3}}
                else:
                    payload = {"error": {"message": f"scripted failure {status}", "type": "x"}}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status != 200 and fake.retry_after is not None:
                    self.send_header("Retry-After", fake.retry_after)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_retriable_statuses_are_retried_then_succeed():
    with _Fake([503, 503]) as fake:
        b = OpenAIBackend("m", fake.url, api_key="sk-test", max_retries=5, backoff_s=0.01)
        [r] = b.generate([chat(42)], progress=False)
    assert r == GenResult(text="seed=42", finish_reason="length", prompt_tokens=7, completion_tokens=3)
    assert len(fake.hits) == 3 and b.stats == {"requests": 1, "attempts": 3, "retries": 2}
    path, body, headers = fake.hits[-1]
    assert path == "/v1/chat/completions"  # base URL without a path gets /v1
    assert headers["Authorization"] == "Bearer sk-test"
    assert body["n"] == 1 and body["seed"] == 42 and body["model"] == "m"
    assert body["messages"] == [{"role": "user", "content": QUESTION[0][1]}]
    assert "top_k" not in body and "stop" not in body


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_non_retriable_status_fails_at_once(status):
    with _Fake([status]) as fake:
        b = OpenAIBackend("m", fake.url + "/v1", max_retries=5, backoff_s=5.0)
        with pytest.raises(BackendError, match=rf"HTTP {status}.*scripted failure {status}"):
            b.generate([chat(1)], progress=False)
    assert len(fake.hits) == 1


def test_retries_are_bounded_and_name_the_last_error():
    with _Fake([429] * 10, retry_after="0") as fake:
        b = OpenAIBackend("m", fake.url, max_retries=2, backoff_s=0.01)
        with pytest.raises(BackendError, match=r"after 3 attempts: HTTP 429: scripted failure 429"):
            b.generate([chat(1)], progress=False)
    assert len(fake.hits) == 3


def test_connection_errors_are_retried():
    b = OpenAIBackend("m", f"http://127.0.0.1:{free_port()}/v1", max_retries=2, backoff_s=0.01, timeout_s=5)
    with pytest.raises(BackendError, match="after 3 attempts: ConnectError"):
        b.generate([chat(1)], progress=False)
    assert b.stats["attempts"] == 3


def test_completion_body_and_order_with_mixed_failures():
    params = SamplingParams(temperature=0.6, top_p=0.9, top_k=20, max_tokens=5, stop=("\n",))
    requests = [GenRequest(seed=s, params=params, prompt=f"p{s}") for s in range(10)]
    with _Fake([500, 502, 504, 408]) as fake:
        b = OpenAIBackend("m", fake.url, concurrency=3, backoff_s=0.01)
        results = b.generate(requests, progress=False)
    assert [r.text for r in results] == [f"seed={s}" for s in range(10)]
    assert all(r.finish_reason == "stop" for r in results)  # anything but "length" is "stop"
    assert b.stats["attempts"] == 14 and b.stats["retries"] == 4
    body = fake.hits[-1][1]
    assert fake.hits[-1][0] == "/v1/completions"
    assert body["top_k"] == 20 and body["stop"] == ["\n"] and body["max_tokens"] == 5 and body["n"] == 1
    assert body["temperature"] == 0.6 and body["top_p"] == 0.9


def test_generate_works_inside_a_running_event_loop():
    import asyncio

    async def main():
        with _Fake([]) as fake:
            return OpenAIBackend("m", fake.url).generate([chat(5)], progress=False)

    assert asyncio.run(main())[0].text == "seed=5"


def test_config_errors():
    assert _normalise_base_url("http://h:8000") == "http://h:8000/v1"
    assert _normalise_base_url("http://h:8000/") == "http://h:8000/v1"
    assert _normalise_base_url("https://api.x.com/openai/v1/") == "https://api.x.com/openai/v1"
    b = OpenAIBackend("m", "http://127.0.0.1:9", chat=False)
    with pytest.raises(BackendError, match="chat=False"):
        b.generate([chat(1)], progress=False)
    assert b.generate([], progress=False) == []


# -- in-process llama.cpp -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def llamacpp():
    if not llama_cpp_available():
        pytest.skip(INSTALL_HINT)
    from harness.backends.llamacpp_backend import LlamaCppBackend

    b = LlamaCppBackend("smollm2-135m", n_threads=1)  # see llama_server_fixture on threads
    yield b
    b.close()


def test_llamacpp_in_process_determinism_per_seed(llamacpp):
    seeds = [21, 22, 21, 23, 24]
    requests = [chat(s) for s in seeds] + [GenRequest(seed=21, params=HOT, prompt="The capital of France is")]
    results = llamacpp.generate(requests, progress=False)
    texts = [r.text for r in results]
    assert texts[0] == texts[2]
    assert len(set(texts[:5])) >= 3
    assert all(r.completion_tokens and r.prompt_tokens for r in results)
    assert results[5].prompt_tokens < results[0].prompt_tokens  # completion prompt: no chat template
    # The text depends on the seed only, not on what ran before (KV-cache prefix reuse).
    again = llamacpp.generate([requests[5], chat(23), chat(21)], progress=False)
    assert [r.text for r in again] == [texts[5], texts[3], texts[0]]
    # Seeds wider than llama.cpp's 32 bits are accepted.
    assert llamacpp.generate([chat(2**47 + 3)], progress=False)[0].completion_tokens


def test_llamacpp_registry_and_errors(llamacpp):
    from harness.backends.llamacpp_backend import LlamaCppBackend, llama_seed

    assert llamacpp.name == "llamacpp" and llamacpp.model == "smollm2-135m"
    assert llama_seed(0xFFFFFFFF) != 0xFFFFFFFF and llama_seed(5) == 5 and 0 <= llama_seed(2**63 + 7) < 2**32
    with pytest.raises(BackendError, match="GGUF"):
        LlamaCppBackend("/no/such/file.gguf")
    with pytest.raises(BackendError, match="context"):
        llamacpp.generate([chat(1, content="word " * 3000)], progress=False)


def test_server_and_in_process_llamacpp_agree_per_seed(server, llamacpp):
    """Same llama.cpp, same GGUF, same seed and plain sampling: the same text over HTTP and in process."""
    requests = [chat(s, SamplingParams(temperature=1.0, top_p=0.95, max_tokens=12)) for s in (31, 32, 33)]
    requests.append(GenRequest(seed=34,
                               params=SamplingParams(temperature=0.8, top_p=0.95, top_k=20, max_tokens=12),
                               prompt="Once upon a time"))
    remote = OpenAIBackend("smollm2-135m", server,
                           extra_body=LLAMA_CPP_PLAIN_SAMPLING).generate(requests, progress=False)
    local = llamacpp.generate(requests, progress=False)
    assert [r.text for r in remote] == [r.text for r in local]
    assert [r.completion_tokens for r in remote] == [r.completion_tokens for r in local]


# -- one chat conversion for every backend (harness.backends.base) -----------------------------
def test_backends_share_one_chat_conversion_and_template_call():
    from harness.backends.base import as_chat, render_chat

    messages = (("system", "Be brief."), ("user", "Hi"))
    assert as_chat(messages) == [{"role": "system", "content": "Be brief."},
                                 {"role": "user", "content": "Hi"}]
    assert as_chat(None) == []

    class Tokenizer:
        chat_template = "{{ messages }}"

        def apply_chat_template(self, chat, **kwargs):
            self.seen = (chat, kwargs)
            return "rendered"

    tokenizer = Tokenizer()
    assert render_chat(tokenizer, messages, model="m", enable_thinking=True) == "rendered"
    assert tokenizer.seen == (as_chat(messages), {"tokenize": False, "add_generation_prompt": True,
                                                  "enable_thinking": True})
    tokenizer.chat_template = None
    with pytest.raises(BackendError, match="model m has no chat template"):
        render_chat(tokenizer, messages, model="m")


def test_llamacpp_backend_sends_the_shared_chat_messages():
    from harness.backends.llamacpp_backend import LlamaCppBackend

    class FakeLlama:
        def reset(self):
            pass

        def create_chat_completion(self, messages, **kwargs):
            self.messages = messages
            return {"choices": [{"message": {"content": "7"}, "finish_reason": "stop"}], "usage": {}}

    backend = object.__new__(LlamaCppBackend)  # no GGUF needed: only the request path is exercised
    backend.llm, backend.chat, backend.reuse_prefix = FakeLlama(), True, False
    assert backend._one(chat(0)).text == "7"
    assert backend.llm.messages == [{"role": "user", "content": QUESTION[0][1]}]


# -- several servers: spreading and failover ---------------------------------------------------


def test_requests_spread_over_servers_and_fail_over_when_one_is_down():
    with _Fake([]) as one, _Fake([]) as two:
        b = OpenAIBackend("m", f"{one.url},{two.url}", max_retries=1, backoff_s=0.01)
        texts = [r.text for r in b.generate([chat(s) for s in range(8)], progress=False)]
        assert texts == [f"seed={s}" for s in range(8)]  # request order, whichever server answered
        assert (len(one.hits), len(two.hits)) == (4, 4)
    with _Fake([]) as alive:
        dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused
        b = OpenAIBackend("m", [dead, alive.url], max_retries=0, backoff_s=0.01)
        texts = [r.text for r in b.generate([chat(s) for s in range(6)], progress=False)]
        assert texts == [f"seed={s}" for s in range(6)] and len(alive.hits) == 6
        down = b.per_server[b.base_urls[0]]
        assert down["served"] == 0 and 1 <= down["failed"] <= 3  # then skipped while it is down
    with _Fake([503] * 4) as busy_one, _Fake([503] * 4) as busy_two:
        b = OpenAIBackend("m", [busy_one.url, busy_two.url], max_retries=1, backoff_s=0.01)
        with pytest.raises(BackendError, match=r"and 1 other server\(s\)\) failed after 2 attempts"):
            b.generate([chat(1)], progress=False)


def test_two_real_servers_share_the_work_give_the_same_texts_and_survive_losing_one():
    from llama_server import llama_server

    if not llama_cpp_available():
        pytest.skip(INSTALL_HINT)
    requests = [chat(seed) for seed in range(6)]
    with llama_server(n_threads=1) as first, llama_server(n_threads=1) as second:
        both = OpenAIBackend("smollm2-135m", [first, second], concurrency=2, max_retries=2, backoff_s=0.05)
        spread = both.generate(requests, progress=False)
        assert [both.per_server[u]["served"] for u in both.base_urls] == [3, 3]
        alone = OpenAIBackend("smollm2-135m", first, concurrency=2).generate(requests, progress=False)
        assert [r.text for r in spread] == [r.text for r in alone]  # per-request seeds: server-independent
    with llama_server(n_threads=1) as survivor:
        gone = f"http://127.0.0.1:{free_port()}/v1"
        pair = OpenAIBackend("smollm2-135m", [gone, survivor], concurrency=2, max_retries=2, backoff_s=0.05)
        after = pair.generate(requests, progress=False)
        assert [r.text for r in after] == [r.text for r in alone]
        assert pair.per_server[survivor]["served"] == 6 and pair.per_server[gone]["served"] == 0
