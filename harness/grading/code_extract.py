"""Extracting the program from a model response (code tasks). Two rules (`EXTRACT_RULES`).

"lcb" (LiveCodeBench problems, the default there): LiveCodeBench's own extraction
(lcb_runner/utils/extraction_utils.py, `extract_code`, for every chat model style but
CodeLLaMaInstruct and GenericBase): split the text on "\n", find the lines that contain
"```" anywhere, and take the lines strictly between the last two of them; fewer than two
such lines -> no code. So the last block wins whatever its tag (a trailing ```text block of
sample output is taken), and a truncated last block takes the text between the last complete
block and it. Only `</think>` is handled before it, as everywhere in the harness (rule 1 below).
A block that is empty or blank gives no code (LCB fails such a program when it loads it).

"lenient" (HumanEval full-function answers; LiveCodeBench with `extract=lenient`), in order:
  1. Reasoning: only the text after the last `</think>` counts. A response that opens `<think>`
     and never closes it has no final answer: no code.
  2. The last fenced block tagged as Python (```python, ```py, ```python3; any case). A final
     fence that was opened but never closed (truncated output) counts as a block too.
  3. Else the last fenced block with any other tag or none.
  4. Else, no fences: the whole text, if it looks like code (it compiles as Python and uses a
     statement keyword, an assignment or a call); otherwise no code.

HumanEval pool completions are function *bodies*, not answers in this format: the task marks
them (`completion="body"`) and the grader builds `prompt + completion + test` without extraction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EXTRACT_VERSION = "2"
EXTRACT_RULES = ("lcb", "lenient")

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$",
                    re.MULTILINE | re.DOTALL)
_OPEN_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n", re.MULTILINE)
_PYTHON_TAGS = {"python", "py", "python3", "py3"}
_CODE_HINT = re.compile(r"^\s*(def |class |import |from \S+ import |for |while |if |print\(|return\b"
                        r"|\w+\s*=[^=]|\w+\()", re.MULTILINE)


@dataclass(frozen=True)
class Extraction:
    code: str | None
    method: str  # lcb-block | python-block | last-block | unclosed-block | whole-text | none:<why>


def final_text(text: str) -> str | None:
    """The text after the last </think>; None when reasoning was opened and never closed."""
    if "</think>" in text:
        return text.rsplit("</think>", 1)[1]
    if "<think>" in text:
        return None
    return text


def extract_lcb(text: str) -> Extraction:
    """LiveCodeBench's rule: the lines between the last two lines that contain a code fence."""
    body = final_text(text)
    if body is None:
        return Extraction(None, "none:unfinished-reasoning")
    lines = body.split("\n")
    fences = [i for i, line in enumerate(lines) if "```" in line]
    if len(fences) < 2:
        return Extraction(None, "none:fewer-than-two-fence-lines")
    code = "\n".join(lines[fences[-2] + 1:fences[-1]])
    if not code.strip():
        return Extraction(None, "none:empty-block")
    return Extraction(code, "lcb-block")


def extract(text: str, rule: str = "lenient") -> Extraction:
    """The program in a response by `rule` (see the module docstring)."""
    if rule == "lcb":
        return extract_lcb(text)
    if rule != "lenient":
        raise ValueError(f"unknown extraction rule {rule!r}; known: {', '.join(EXTRACT_RULES)}")
    body = final_text(text)
    if body is None:
        return Extraction(None, "none:unfinished-reasoning")
    blocks = [(m.group(2).lower(), m.group(3), m.end()) for m in _FENCE.finditer(body)]
    end_of_blocks = blocks[-1][2] if blocks else 0
    # A fence opened after the last complete block and never closed: a truncated answer.
    unclosed = None
    for m in _OPEN_FENCE.finditer(body, end_of_blocks):
        unclosed = (m.group(2).lower(), body[m.end():])
        break
    python = [b for b in blocks if b[0] in _PYTHON_TAGS]
    if unclosed is not None and unclosed[0] in _PYTHON_TAGS:
        return Extraction(unclosed[1], "unclosed-block")
    if python:
        return Extraction(python[-1][1], "python-block")
    if blocks:
        return Extraction(blocks[-1][1], "last-block")
    if unclosed is not None:
        return Extraction(unclosed[1], "unclosed-block")
    if _looks_like_code(body):
        return Extraction(body, "whole-text")
    return Extraction(None, "none:no-code-found")


def _looks_like_code(text: str) -> bool:
    if not text.strip() or not _CODE_HINT.search(text):
        return False
    try:
        compile(text, "<response>", "exec")
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError):
        return False
    return True


def extract_code(text: str, rule: str = "lenient") -> str | None:
    """The program in a response, or None (see the module docstring for the rules)."""
    return extract(text, rule).code


def prompt_imports(prompt: str) -> str:
    """Top-level import lines of a HumanEval prompt (full-function answers often omit them)."""
    lines = [line for line in prompt.splitlines() if re.match(r"(import |from \S+ import )", line)]
    return "\n".join(lines) + ("\n" if lines else "")
