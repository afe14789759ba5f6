"""What a fit carries from step to step and across a resume, its clock, and what it returns."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn


@dataclass
class LoopState:
    """The counters of the training loop that a checkpoint restores.

    Attributes:
        step: completed steps (over all segments of the run).
        elapsed: training seconds at the last reading of the clock (over all segments).
        lr_factor: multiplier of the learning rate, halved by every rollback.
        bad_count: rollbacks since the last good snapshot.
        history: one row per completed step.
        rollbacks: rollbacks in this call (not stored: a resumed run counts afresh).
    """

    step: int = 0
    elapsed: float = 0.0
    lr_factor: float = 1.0
    bad_count: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    rollbacks: int = 0

    def to_checkpoint(self) -> dict[str, Any]:
        """The checkpoint entries of this state (plain data)."""
        return {
            "step": self.step,
            "elapsed": self.elapsed,
            "lr_factor": self.lr_factor,
            "bad_count": self.bad_count,
            "history": self.history,
        }

    @classmethod
    def from_checkpoint(cls, ckpt: Mapping[str, Any]) -> LoopState:
        """The state a checkpoint holds (``bad_count`` defaults to 0 for early checkpoints)."""
        return cls(
            step=int(ckpt["step"]),
            elapsed=float(ckpt["elapsed"]),
            lr_factor=float(ckpt["lr_factor"]),
            bad_count=int(ckpt.get("bad_count", 0)),
            history=[dict(r) for r in ckpt["history"]],
        )


class Stopwatch:
    """Training seconds over all segments of a run: ``offset`` plus the time since creation.

    Args:
        offset: seconds done before (a resumed run's ``elapsed``).
        clock: seconds of a monotonic clock (``time.perf_counter``, looked up when the
            stopwatch is created, so a test may replace it).
    """

    def __init__(self, offset: float = 0.0, clock: Callable[[], float] | None = None) -> None:
        self.clock = time.perf_counter if clock is None else clock
        self.offset = float(offset)
        self.start = self.clock()

    def read(self) -> float:
        """Seconds so far, resumed segments included."""
        return self.offset + (self.clock() - self.start)


@dataclass
class FitResult:
    """What :func:`~pyrodyn.infer.fit` returns.

    Attributes:
        model: the fitted model (the same object that was passed in, on ``device``).
        history: one dict per completed step: ``step`` (1-based), ``time`` (seconds since the
            start, over resumed segments), ``lr``, ``loss``, one entry per loss term and, on
            validation steps, ``valid_loss``.
        steps_done: completed steps (including those of a resumed run).
        stopped_reason: ``"steps"`` (budget reached), ``"max_time"``, or ``"callback"``.
        elapsed: training seconds over all segments of the run.
        rollbacks: how many non-finite steps were rolled back (in this call).
    """

    model: nn.Module
    history: list[dict[str, float]] = field(default_factory=list)
    steps_done: int = 0
    stopped_reason: str = "steps"
    elapsed: float = 0.0
    rollbacks: int = 0


__all__ = ["FitResult", "LoopState", "Stopwatch"]
