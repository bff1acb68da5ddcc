"""Parsing a selector's verdict: the one function shared by GenSelect and the DAPO reward.

Rules (DESIGN.md section 6): read only the text after the last `</think>`; take the LAST
"Judgment: k" line, tolerating "Judgement", bold/italic markers, brackets and spacing; the index
must lie in [0, n_candidates). Anything else is a parse failure (None): evaluation falls back to
a random candidate and counts it, training scores it 0.
"""

from __future__ import annotations

import re

_JUDGMENT = re.compile(r"judge?ment[\s*_]*[:：][\s*_\[(<\"']*(-?\d+)", re.IGNORECASE)


def parse_judgment(text: str | None, n_candidates: int) -> int | None:
    if not text:
        return None
    if "<think>" in text and "</think>" not in text:
        return None  # still thinking when it stopped: no verdict was given
    final = text.rsplit("</think>", 1)[-1]
    matches = _JUDGMENT.findall(final)
    if not matches:
        return None
    index = int(matches[-1])
    return index if 0 <= index < n_candidates else None


_STRICT = re.compile(r"Judg(?:e)?ment: (\d+)")


def parse_judgment_strict(text: str | None, n_candidates: int) -> int | None:
    """NeMo-Skills' GenSelect parse: the last `Judgment: k` (or `Judgement: k`) exactly as written,
    anywhere in the output (no bold markers, no lower case, no other spacing); k in range."""
    if not text:
        return None
    matches = _STRICT.findall(text)
    if not matches:
        return None
    index = int(matches[-1])
    return index if index < n_candidates else None
