"""Progress bars (tqdm) that can be switched off for tests and --quiet runs."""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator


class _NullBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def grow(self, n: int) -> None:
        pass


def grow(bar, n: int) -> None:
    """Add `n` to a bar's total (work that becomes known as it goes, e.g. the next round of a
    tournament's judge requests), so its count and ETA stay honest."""
    if isinstance(bar, _NullBar) or n <= 0:
        return
    bar.total = (bar.total or 0) + n
    bar.refresh()


@contextlib.contextmanager
def progress_bar(total: int, desc: str, unit: str = "it", enabled: bool = True) -> Iterator:
    if not enabled:
        yield _NullBar()
        return
    from tqdm import tqdm

    # mininterval keeps the bar cheap; delay hides it for work that finishes within a second.
    bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, mininterval=0.5, delay=1.0,
               dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()
