"""OpenAI-compatible HTTP backend (vLLM, SGLang, llama.cpp's server, hosted APIs).

Every GenRequest becomes one HTTP request with `n=1` and the request's own `seed`: chat
`messages` go to `POST {base_url}/chat/completions`, a raw `prompt` to `{base_url}/completions`.
"n samples" is n requests with distinct seeds (see base.py), never `n>1` in one request:
llama.cpp's server ignores `n` and returns one choice, and servers that do honour it draw the
choices from one seed, so per-sample seeds would be lost.

Seeds: vLLM and llama.cpp's server honour `seed` per request (same seed, same text; llama.cpp
keeps its low 32 bits, and 0xFFFFFFFF there means "random"). Hosted APIs treat it as best effort.

Sampling: the body carries temperature, top_p, max_tokens, stop, seed and (only when set) top_k.
Servers add their own defaults for everything else; vLLM's are neutral, llama.cpp's server applies
top_k 40, min_p 0.05 and repeat_penalty 1.1 unless told otherwise: pass
`extra_body=LLAMA_CPP_PLAIN_SAMPLING` for plain temperature / top-p sampling (then the server's text
for a seed equals the in-process llamacpp backend's).

Requests run concurrently (asyncio + httpx, at most `concurrency` in flight per server); results
come back in request order. Connection errors, timeouts and HTTP 408/409/429/500/502/503/504 are
retried with exponential backoff and jitter (honouring Retry-After); any other HTTP error (400,
401, 404, 422, ...) fails at once with a BackendError naming the status and the server's message.

Several servers (vLLM or SGLang replicas on many nodes): `base_url` is a list, or one string of
comma-separated URLs ($OPENAI_BASE_URL too). Request i starts on server i mod k, so the work
spreads evenly; a retry moves to the next server at once (no backoff until every server has been
tried), and a server that refused a connection or timed out is skipped for DOWN_S seconds while
another one is up. Texts do not depend on the server: each request carries its own seed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import random
import time
from typing import Any, Sequence
from urllib.parse import urlsplit

from harness.backends.base import BackendError, GenRequest, GenResult, as_chat
from harness.progress import progress_bar

# llama.cpp server extras that switch off its non-neutral sampling defaults.
LLAMA_CPP_PLAIN_SAMPLING = {"top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0}
RETRIABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_BACKOFF_S = 60.0
DOWN_S = 10.0  # a server that failed at the transport level is skipped this long while others are up


def split_base_urls(base_url: str | Sequence[str]) -> list[str]:
    """The normalised server URLs of a base_url given as a list or as comma-separated text."""
    items = base_url.split(",") if isinstance(base_url, str) else list(base_url)
    urls = [_normalise_base_url(u.strip()) for u in items if u and u.strip()]
    if not urls:
        raise BackendError(f"no server URL in base_url {base_url!r}")
    return list(dict.fromkeys(urls))


def _normalise_base_url(base_url: str) -> str:
    """'http://host:8000' -> 'http://host:8000/v1'; a URL with a path is used as given."""
    base = base_url.rstrip("/")
    if urlsplit(base).path in ("", "/"):
        base += "/v1"
    return base


def _server_message(response) -> str:
    """The error text a server sent: OpenAI's {"error": {"message"}}, FastAPI's {"detail"}, or raw."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:500]
        if isinstance(err, str):
            return err[:500]
        if "detail" in body:
            return str(body["detail"])[:500]
        if "message" in body:
            return str(body["message"])[:500]
    return json.dumps(body)[:500]


class OpenAIBackend:
    """any OpenAI-compatible server (vLLM, SGLang, llama.cpp, APIs)"""

    name = "openai"

    def __init__(self, model: str, base_url: str | Sequence[str] | None = None, api_key: str | None = None,
                 chat: bool = True,
                 concurrency: int = 8, timeout_s: float = 600, max_retries: int = 5, backoff_s: float = 1.0,
                 extra_body: dict[str, Any] | None = None) -> None:
        """`base_url` defaults to $OPENAI_BASE_URL; `api_key` to $OPENAI_API_KEY, else "EMPTY".

        `chat=False` declares a server/model without a chat template: requests must carry a raw
        prompt. `extra_body` adds fields to every request body (e.g. LLAMA_CPP_PLAIN_SAMPLING or
        vLLM's {"chat_template_kwargs": {"enable_thinking": True}}); the request's own sampling
        fields override it, top_k included when the request sets it.
        """
        try:
            import httpx  # noqa: F401
        except ImportError as exc:
            from harness.errors import MissingPrerequisiteError

            raise MissingPrerequisiteError.package("httpx", "openai", purpose="the openai backend") from exc
        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise BackendError("the openai backend needs base_url (e.g. http://127.0.0.1:8000/v1) "
                               "or $OPENAI_BASE_URL")
        if concurrency < 1:
            raise BackendError(f"concurrency must be >= 1, got {concurrency}")
        self.model = model
        self.base_urls = split_base_urls(base_url)
        self.base_url = self.base_urls[0]
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.chat = chat
        self.concurrency = concurrency
        self.timeout_s = float(timeout_s)
        self.max_retries = max(0, int(max_retries))
        self.backoff_s = float(backoff_s)
        self.extra_body = dict(extra_body or {})
        # Counters over this backend's life: HTTP attempts and the retries among them; per server,
        # the requests it answered and the attempts that failed there.
        self.stats = {"requests": 0, "attempts": 0, "retries": 0}
        self.per_server = {u: {"served": 0, "failed": 0} for u in self.base_urls}
        self._down_until = {u: 0.0 for u in self.base_urls}
        self._rng = random.Random()

    # -- public API ---------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenRequest], *, progress: bool = True) -> list[GenResult]:
        requests = list(requests)
        if not requests:
            return []
        for r in requests:
            if r.messages is not None and not self.chat:
                raise BackendError("this openai backend was created with chat=False but a request carries "
                                   "chat messages; send a raw prompt or use chat=True")
        return _run_coroutine(self._generate_all(requests, progress))

    def models(self) -> list[str]:
        """Model ids the first answering server lists at GET {base_url}/models."""
        import httpx

        errors = []
        for base in self.base_urls:
            try:
                with httpx.Client(timeout=10.0, headers=self._headers()) as client:
                    response = client.get(f"{base}/models")
            except httpx.HTTPError as exc:
                errors.append(f"{base}/models: {type(exc).__name__}: {exc}")
                continue
            if response.status_code != 200:
                errors.append(f"{base}/models: HTTP {response.status_code}: {_server_message(response)}")
                continue
            return [m.get("id") for m in response.json().get("data", [])]
        raise BackendError("; ".join(errors))

    def health(self) -> bool:
        """True when the server answers GET /models."""
        try:
            self.models()
        except BackendError:
            return False
        return True

    def wait_ready(self, timeout: float = 120.0, interval: float = 0.5) -> list[str]:
        """Poll /models until the server answers (returns the model ids) or raise after `timeout` s."""
        return wait_ready(self.base_url, timeout=timeout, interval=interval, api_key=self.api_key)

    def close(self) -> None:
        pass  # one httpx client per generate() call, closed with it

    # -- internals ----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}

    def _body(self, request: GenRequest) -> tuple[str, dict[str, Any]]:
        p = request.params
        body: dict[str, Any] = dict(self.extra_body)  # extras first: the request's own fields win
        body.update({"model": self.model, "temperature": p.temperature, "top_p": p.top_p,
                     "max_tokens": p.max_tokens, "n": 1, "seed": int(request.seed), "stream": False})
        if p.stop:
            body["stop"] = list(p.stop)
        if p.top_k is not None:
            body["top_k"] = p.top_k  # not OpenAI's API; vLLM, SGLang and llama.cpp accept it
        if request.messages is not None:
            body["messages"] = as_chat(request.messages)
            path = "/chat/completions"
        else:
            body["prompt"] = request.prompt
            path = "/completions"
        return path, body

    async def _generate_all(self, requests: list[GenRequest], progress: bool) -> list[GenResult]:
        import httpx

        timeout = httpx.Timeout(self.timeout_s, connect=min(30.0, self.timeout_s))
        total = self.concurrency * len(self.base_urls)
        limits = httpx.Limits(max_connections=total, max_keepalive_connections=total)
        semaphore = asyncio.Semaphore(total)
        results: list[GenResult | None] = [None] * len(requests)
        async with httpx.AsyncClient(timeout=timeout, limits=limits, headers=self._headers()) as client:
            with progress_bar(total=len(requests), desc=f"generate[{self.model}]", unit="req",
                              enabled=progress) as bar:

                async def one(i: int) -> None:
                    async with semaphore:
                        results[i] = await self._post_with_retries(client, requests[i], i)
                    bar.update(1)

                try:
                    # TaskGroup cancels the requests still in flight as soon as one fails for good.
                    async with asyncio.TaskGroup() as group:
                        for i in range(len(requests)):
                            group.create_task(one(i))
                except BaseExceptionGroup as eg:
                    first = _first_leaf(eg)
                    if isinstance(first, BackendError):
                        raise BackendError(str(first)) from first
                    raise first
        return [r for r in results if r is not None]

    def _server(self, start: int, attempt: int) -> str:
        """The server for this attempt: the rotation from `start`, skipping servers marked down
        while any is up."""
        k = len(self.base_urls)
        now = time.monotonic()
        for step in range(k):
            url = self.base_urls[(start + attempt + step) % k]
            if self._down_until[url] <= now:
                return url
        return self.base_urls[(start + attempt) % k]

    async def _post_with_retries(self, client, request: GenRequest, index: int = 0) -> GenResult:
        import httpx

        path, body = self._body(request)
        servers = len(self.base_urls)
        attempts = max(self.max_retries + 1, servers)  # every server is tried at least once
        self.stats["requests"] += 1
        last_error = ""
        url = self.base_urls[index % servers] + path
        for attempt in range(attempts):
            base = self._server(index, attempt)
            url = base + path
            if attempt:
                self.stats["retries"] += 1
            self.stats["attempts"] += 1
            retry_after: float | None = None
            try:
                response = await client.post(url, json=body)
            except httpx.TransportError as exc:  # connection refused/reset, timeouts, protocol errors
                last_error = f"{type(exc).__name__}: {exc}".rstrip(": ")
                self._down_until[base] = time.monotonic() + DOWN_S
            else:
                if response.status_code == 200:
                    self.per_server[base]["served"] += 1
                    return self._parse(response, url)
                message = _server_message(response)
                last_error = f"HTTP {response.status_code}: {message}"
                if response.status_code not in RETRIABLE_STATUS:
                    raise BackendError(f"POST {url} failed with HTTP {response.status_code} (not retried): "
                                       f"{message}")
                retry_after = _retry_after(response)
            self.per_server[base]["failed"] += 1
            # another server next: at once; once every server has failed this request, back off
            if attempt + 1 < attempts and (attempt + 1) % servers == 0:
                rounds = (attempt + 1) // servers - 1
                delay = min(MAX_BACKOFF_S, self.backoff_s * 2 ** rounds) * (0.5 + self._rng.random())
                if retry_after is not None:
                    delay = max(delay, min(retry_after, MAX_BACKOFF_S))
                await asyncio.sleep(delay)
        where = url if servers == 1 else f"{url} (and {servers - 1} other server(s))"
        raise BackendError(f"POST {where} failed after {attempts} attempts: {last_error}")

    def _parse(self, response, url: str) -> GenResult:
        try:
            data = response.json()
            choice = data["choices"][0]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"POST {url}: unexpected response {response.text[:300]!r}") from exc
        if "message" in choice:
            message = choice["message"] or {}
            text = message.get("content") or ""
            # vLLM/SGLang reasoning parsers split the thinking off; keep the model's own format so
            # "the text after </think>" still means the final solution downstream.
            reasoning = message.get("reasoning_content") or message.get("reasoning")
            if reasoning:
                text = f"<think>{reasoning}</think>{text}"
        else:
            text = choice.get("text") or ""
        usage = data.get("usage") or {}
        return GenResult(text=text,
                         finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
                         prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
                         completion_tokens=_int_or_none(usage.get("completion_tokens")))


def wait_ready(base_url: str, timeout: float = 120.0, interval: float = 0.5, api_key: str | None = None,
               process=None) -> list[str]:
    """Poll GET {base_url}/models until it answers 200; return the model ids.

    `process` (a subprocess.Popen) makes the wait fail fast when the server process dies.
    """
    import httpx

    url = _normalise_base_url(base_url) + "/models"
    headers = {"Authorization": f"Bearer {api_key or os.environ.get('OPENAI_API_KEY') or 'EMPTY'}"}
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        if process is not None and process.poll() is not None:
            raise BackendError(f"the server process exited with code {process.returncode} before {url} "
                               "answered")
        try:
            response = httpx.get(url, headers=headers, timeout=min(5.0, max(0.5, timeout)))
            if response.status_code == 200:
                return [m.get("id") for m in response.json().get("data", [])]
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        if time.monotonic() >= deadline:
            raise BackendError(f"{url} not ready after {timeout:.0f} s (last: {last})")
        time.sleep(interval)


def _retry_after(response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date; the exponential backoff applies


def _int_or_none(value) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _first_leaf(group: BaseExceptionGroup) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


def _run_coroutine(coro):
    """asyncio.run, also from code that already runs an event loop (Jupyter): then in a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
