"""Selection protocols: the rules that decide what a majority counts and what a judge is shown.

Two protocols, named in every run record (the leaderboard never puts two in one table):

* `harness` (default): majority over answer clusters by task-aware equivalence (math-verify);
  the lenient judgment parse (bold, "Judgement", lower case; after the judge's `</think>`); a long
  candidate is cut from the front (where the answer is not) to `max_chars`; a math window whose
  candidates all share one answer is decided without a call.
* `nemo-skills` (`--paper`): the rules of NeMo-Skills' GenSelect evaluation, the paper's pipeline
  (DESIGN.md section 12): majority over the exact string of the last `\\boxed{}`; the strict parse
  `Judgment: (\\d+)`, last match; a candidate longer than 16,384 characters is left out of the
  prompt, never cut; the judge is always called.

In both, code windows are always judged: equal behaviour on the visible inputs does not imply
equal correctness on the hidden tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from harness.errors import ConfigError
from harness.grading.math_answers import final_segment, last_boxed_exact
from harness.selectors.judgment import parse_judgment, parse_judgment_strict

NEMO_MAX_CANDIDATE_CHARS = 16_384


@dataclass(frozen=True)
class SelectionProtocol:
    name: str
    parse: Callable[[str | None, int], int | None]  # judge output, window size -> position or None
    skip_agreeing: bool  # decide a one-answer math window without calling the judge
    exact_boxed_majority: bool  # math majority over the exact last-\boxed string, not equivalence
    drop_over: int | None  # leave a candidate longer than this out of the prompt (None: cut instead)

    def may_skip(self, kind: str) -> bool:
        return self.skip_agreeing and kind != "code"

    def view(self, text: str, kind: str, max_chars: int) -> str | None:
        """What the judge reads of one candidate, or None when it is left out of the prompt."""
        if kind == "code":
            from harness.grading.code_extract import extract_code

            shown = extract_code(text) or final_segment(text)
        else:
            # NeMo-Skills falls back to the full text when the final part is empty (unfinished
            # thinking), which then usually exceeds the cap and is dropped.
            shown = final_segment(text).strip() or (text.strip() if self.drop_over else "")
        if self.drop_over is not None:
            return shown if shown and len(shown) <= self.drop_over else None
        return "[...]" + shown[-max_chars:] if len(shown) > max_chars else shown

    def clusters(self, kind: str, texts: Sequence[str], grader_clusters: Sequence[object]) -> list[object]:
        """Labels that majority votes over (None = no answer, never votes)."""
        if kind == "code" or not self.exact_boxed_majority:
            return list(grader_clusters)
        return [last_boxed_exact(final_segment(text)) for text in texts]


HARNESS = SelectionProtocol("harness", parse_judgment, skip_agreeing=True, exact_boxed_majority=False,
                            drop_over=None)
NEMO_SKILLS = SelectionProtocol("nemo-skills", parse_judgment_strict, skip_agreeing=False,
                                exact_boxed_majority=True, drop_over=NEMO_MAX_CANDIDATE_CHARS)
PROTOCOLS = {p.name: p for p in (HARNESS, NEMO_SKILLS)}


def protocol(name: str) -> SelectionProtocol:
    if name not in PROTOCOLS:
        raise ConfigError(f"unknown selection protocol {name!r}; choose one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]
