"""Callbacks for :func:`pyrodyn.infer.fit`: hooks at the start, after each step and at the end.

A callback is either a :class:`Callback` (override any hook) or a plain callable
``fn(state) -> bool | None`` called after every step. Returning True from ``on_step_end`` (or
from a plain callable) stops training cleanly with ``stopped_reason = "callback"``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from pyrodyn.models.base import GenerativeModel


@dataclass
class FitState:
    """What a callback sees.

    Attributes:
        model: the model being fitted.
        optimizer: the torch optimizer.
        step: number of completed steps.
        steps: the step budget.
        record: the history row of the last step (``step``, ``time``, ``lr``, ``loss``, terms,
            ``valid_loss``).
        history: all rows so far.
        elapsed: seconds of training so far (over all resumed segments).
        index: one past the schedule index the last step used: ``step`` on the step clock; on
            the time clock (``schedule_clock="time"``) about the fraction of the time budget
            spent times ``steps``, so that callbacks can follow the budget as schedules do.
    """

    model: GenerativeModel
    optimizer: torch.optim.Optimizer
    step: int
    steps: int
    record: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    elapsed: float = 0.0
    index: int = 0


class Callback:
    """Base class of fit callbacks; every hook is optional."""

    def on_fit_start(self, state: FitState) -> None:
        """Called once before the first step (after a resume has been restored)."""

    def on_step_end(self, state: FitState) -> bool | None:
        """Called after every step; return True to stop training."""
        return None

    def on_fit_end(self, state: FitState, reason: str) -> None:
        """Called once at the end with the stopped reason, before the final checkpoint.

        A change to the model made here (such as restoring the best weights) is what is saved.
        """


class EarlyStopping(Callback):
    """Stops when a monitored history value has not improved for ``patience`` evaluations.

    Args:
        monitor: history column, ``valid_loss`` by default (only rows where it is finite count).
        patience: evaluations without improvement before stopping.
        min_delta: improvement smaller than this does not count.
    """

    def __init__(self, monitor: str = "valid_loss", patience: int = 5, min_delta: float = 0.0):
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        self.monitor, self.patience, self.min_delta = monitor, int(patience), float(min_delta)
        self.best = math.inf
        self.bad = 0

    def on_step_end(self, state: FitState) -> bool | None:
        """Counts evaluations without improvement; True once ``patience`` is exhausted."""
        value = state.record.get(self.monitor)
        if value is None or not math.isfinite(value):
            return None
        if value < self.best - self.min_delta:
            self.best, self.bad = value, 0
            return None
        self.bad += 1
        return self.bad >= self.patience


class LambdaCallback(Callback):
    """A callback from functions (any of ``on_fit_start``, ``on_step_end``, ``on_fit_end``)."""

    def __init__(self, **hooks: Any) -> None:
        unknown = set(hooks) - {"on_fit_start", "on_step_end", "on_fit_end"}
        if unknown:
            raise ValueError(
                f"unknown hooks {sorted(unknown)}; use on_fit_start, on_step_end, on_fit_end"
            )
        for name, fn in hooks.items():
            setattr(self, name, fn)


class CallbackList:
    """The callbacks of one fit, called in order.

    Args:
        callbacks: :class:`Callback` objects or plain callables ``state -> stop?`` (called
            after every step).

    Raises:
        TypeError: an entry is neither a :class:`Callback` nor callable.
    """

    def __init__(self, callbacks: Iterable[Callback | Callable[[FitState], Any]] = ()) -> None:
        self.callbacks: list[Callback] = []
        for cb in callbacks:
            if isinstance(cb, Callback):
                self.callbacks.append(cb)
            elif callable(cb):
                self.callbacks.append(LambdaCallback(on_step_end=cb))
            else:
                raise TypeError(
                    "callbacks must be pyrodyn.infer.Callback objects (subclass it and override "
                    f"on_fit_start / on_step_end / on_fit_end) or callables state -> stop?, got "
                    f"{type(cb).__name__}"
                )

    def __len__(self) -> int:
        return len(self.callbacks)

    def on_fit_start(self, state: FitState) -> None:
        """Calls every ``on_fit_start``."""
        for cb in self.callbacks:
            cb.on_fit_start(state)

    def on_step_end(self, state: FitState) -> bool:
        """Calls every ``on_step_end`` (all of them, even after one asked to stop).

        Returns:
            Whether any callback asked to stop.
        """
        stop = False
        for cb in self.callbacks:
            stop = bool(cb.on_step_end(state)) or stop
        return stop

    def on_fit_end(self, state: FitState, reason: str) -> None:
        """Calls every ``on_fit_end``."""
        for cb in self.callbacks:
            cb.on_fit_end(state, reason)


__all__ = ["Callback", "CallbackList", "EarlyStopping", "FitState", "LambdaCallback"]
