"""The options of a fit: one validated record that both launchers hand to the training loop.

:func:`pyrodyn.infer.fit` and :func:`pyrodyn.infer.distributed.fit_distributed` take the same
keyword arguments; they become one :class:`FitOptions`, checked once at the boundary, so the
loop, the samplers and the checkpoint code never re-validate or re-default them.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch

from pyrodyn.infer.callbacks import Callback, CallbackList, FitState
from pyrodyn.infer.checkpoint import CHECKPOINT_FILE
from pyrodyn.infer.history import HISTORY_FILE
from pyrodyn.infer.optim import check_optimizer
from pyrodyn.infer.schedules import Schedule, build_lr_schedule, check_clock

OptimizerSpec = str | type | Callable[..., torch.optim.Optimizer]
CallbackSpec = Callback | Callable[[FitState], bool | None]


@dataclass
class FitOptions:
    """The keyword arguments of :func:`pyrodyn.infer.fit` (documented there), in one record.

    The defaults here are those of ``fit``'s signature (a test keeps them equal).
    """

    steps: int = 1000
    optimizer: OptimizerSpec = "adam"
    lr: float = 1e-3
    lr_schedule: Mapping[str, Any] | Schedule | None = None
    schedules: Mapping[str, Schedule] | None = None
    batch_size: int = 16
    window: int | None = None
    valid_data: Any = None
    valid_every: int = 100
    clip_norm: float | None = 5.0
    device: str | torch.device = "cpu"
    seed: int = 0
    callbacks: Iterable[CallbackSpec] = ()
    checkpoint_dir: str | os.PathLike | None = None
    checkpoint_every: int = 500
    max_time: float | None = None
    resume: bool = False
    progress: bool | None = None
    max_nonfinite: int = 3
    config: Mapping[str, Any] | None = None
    schedule_clock: str = "steps"

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any], *, caller: str) -> FitOptions:
        """Options from keyword arguments, naming any that ``fit`` does not take.

        Raises:
            TypeError: an unknown keyword (the message lists the valid ones).
        """
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(kwargs) - set(names))
        if unknown:
            raise TypeError(
                f"{caller} got unexpected keyword arguments {unknown}; valid: {sorted(names)}"
            )
        return cls(**kwargs)

    def as_kwargs(self) -> dict[str, Any]:
        """The options as keyword arguments of ``fit`` (values not copied)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    # ------------------------------------------------------------------ derived
    @property
    def checkpoint_path(self) -> str | None:
        """``checkpoint_dir/checkpoint.pt`` (None without a checkpoint folder)."""
        if self.checkpoint_dir is None:
            return None
        return os.path.join(os.fspath(self.checkpoint_dir), CHECKPOINT_FILE)

    @property
    def history_path(self) -> str | None:
        """``checkpoint_dir/history.csv`` (None without a checkpoint folder)."""
        if self.checkpoint_dir is None:
            return None
        return os.path.join(os.fspath(self.checkpoint_dir), HISTORY_FILE)

    @property
    def resumes(self) -> bool:
        """Whether this fit continues from an existing checkpoint (else it starts afresh)."""
        path = self.checkpoint_path
        return bool(self.resume) and path is not None and os.path.exists(path)

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Checks every option; raises naming the option, its value and what was expected.

        Integral options given as integral floats (``steps=2000.0``) are stored as ints and
        ``callbacks`` as a list.

        Raises:
            TypeError: an option of the wrong kind (``lr`` not a number, a schedule that is not
                callable).
            ValueError: an option out of range (``lr``, ``clip_norm``, ``max_time`` or a factor
                of ``lr_schedule`` not finite and positive, ``steps < 0``, ...), an unknown
                ``lr_schedule`` or ``schedule_clock``, or ``resume`` without ``checkpoint_dir``.
        """
        self.steps = _int_at_least("steps", self.steps, 0, "a non-negative int")
        check_lr(self.lr)
        self.batch_size = _int_at_least("batch_size", self.batch_size, 1, ">= 1")
        if self.window is not None:
            self.window = _int_at_least("window", self.window, 1, "None or >= 1")
        self.valid_every = _int_at_least("valid_every", self.valid_every, 1, ">= 1")
        self.checkpoint_every = _int_at_least("checkpoint_every", self.checkpoint_every, 1, ">= 1")
        self.max_nonfinite = _int_at_least("max_nonfinite", self.max_nonfinite, 1, ">= 1")
        self.seed = _int_at_least("seed", self.seed, 0, "a non-negative int")
        # inf would mean "none": None says that, and a NaN would poison every step
        if self.clip_norm is not None and not _positive(self.clip_norm):
            raise ValueError(
                f"clip_norm must be None or positive and finite (None: no clipping), got "
                f"{self.clip_norm!r}"
            )
        if self.max_time is not None and not _positive(self.max_time):
            raise ValueError(
                f"max_time must be None or positive and finite seconds (None: no budget), got "
                f"{self.max_time!r}"
            )
        if self.resume and self.checkpoint_dir is None:
            raise ValueError("resume=True needs a checkpoint_dir to resume from")
        check_clock(self.schedule_clock, self.max_time)
        for name, fn in (self.schedules or {}).items():
            if not callable(fn):
                raise TypeError(f"schedule {name!r} must be a callable step -> value, got {fn!r}")
        build_lr_schedule(self.lr_schedule, steps=int(self.steps))  # raises for a bad spec
        check_optimizer(self.optimizer)
        self.callbacks = list(self.callbacks)
        CallbackList(self.callbacks)  # raises for an entry that is not a callback


def check_lr(lr: Any) -> None:
    """Raises unless ``lr`` is a finite positive number.

    Raises:
        TypeError: ``lr`` is not a real number.
        ValueError: ``lr <= 0``, NaN or infinite.
    """
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise TypeError(f"lr must be a positive number, got {lr!r}")
    if not (math.isfinite(float(lr)) and lr > 0):
        raise ValueError(f"lr must be positive and finite, got {lr!r}")


def _positive(value: Any) -> bool:
    """Whether ``value`` is a finite real number > 0 (not a bool)."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
        and value > 0
    )


def _int_at_least(name: str, value: Any, low: int, expected: str) -> int:
    """``value`` as an int if it is an integral number ``>= low`` (else ValueError)."""
    ok = (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
        and float(value).is_integer()
        and value >= low
    )
    if not ok:
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return int(value)


__all__ = ["FitOptions", "check_lr"]
