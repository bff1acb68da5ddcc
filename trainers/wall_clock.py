"""Stop training after a wall-clock budget (a CPU miniature has minutes, not steps, to spend)."""

from __future__ import annotations

import time


def wall_clock_callback(max_minutes: float):
    """A transformers TrainerCallback that ends training at the first step boundary past the budget.

    The step in flight finishes, so the model is never saved mid-update; the checkpoint records
    the steps actually taken (trainer.state.global_step)."""
    from transformers import TrainerCallback

    class WallClockLimit(TrainerCallback):
        def __init__(self) -> None:
            self.started = time.monotonic()
            self.stopped_early = False

        def on_step_end(self, args, state, control, **kwargs):
            if time.monotonic() - self.started >= max_minutes * 60.0:
                self.stopped_early = state.global_step < state.max_steps
                control.should_training_stop = True
            return control

    return WallClockLimit()
