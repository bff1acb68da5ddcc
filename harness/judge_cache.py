"""Cache of LLM-selector calls: results/judge/<judge-key>.jsonl.

The judge key hashes everything about the judge that changes its output (backend, model and
revision, prompt version, sampling params); each row is keyed by a hash of the exact request
(prompt text and seed). A rerun of a finished experiment therefore finds every call here and
makes none. Append-only, so a killed run keeps every call that completed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.backends.base import GenRequest, GenResult
from harness.jsonl import Appender, read_records
from harness.types import stable_hash


def request_key(request: GenRequest) -> str:
    return stable_hash({"prompt": request.prompt, "messages": request.messages, "seed": request.seed,
                        "params": request.params.to_json()}, 20)


class JudgeCache:
    def __init__(self, root: Path, judge_spec: dict[str, Any]) -> None:
        self.judge_key = stable_hash(judge_spec, 16)
        self.path = Path(root) / f"{self.judge_key}.jsonl"
        self.spec = judge_spec
        self._rows: dict[str, GenResult] = {}
        if self.path.exists():
            _, rows = read_records(self.path, "judge")
            for row in rows:
                self._rows[row["key"]] = GenResult(row["text"], row["finish_reason"],
                                                   row.get("prompt_tokens"), row.get("completion_tokens"))

    def get(self, request: GenRequest) -> GenResult | None:
        return self._rows.get(request_key(request))

    def put_many(self, pairs: list[tuple[GenRequest, GenResult]]) -> None:
        if not pairs:
            return
        with Appender(self.path, "judge", {"judge": self.spec}) as out:
            for request, result in pairs:
                key = request_key(request)
                self._rows[key] = result
                out.write({"key": key, "text": result.text, "finish_reason": result.finish_reason,
                           "prompt_tokens": result.prompt_tokens,
                           "completion_tokens": result.completion_tokens})
