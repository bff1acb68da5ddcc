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
