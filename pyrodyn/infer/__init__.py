"""Fitting: the ``fit`` loop, schedules, callbacks, history and checkpoints."""

from pyrodyn.exceptions import NonFiniteLossError
from pyrodyn.infer.callbacks import Callback, EarlyStopping, FitState, LambdaCallback
from pyrodyn.infer.checkpoint import atomic_save, load_checkpoint
from pyrodyn.infer.fit import FitResult, fit
from pyrodyn.infer.history import read_history
from pyrodyn.infer.schedules import (
    constant,
    cosine,
    exponential,
    linear,
    step_schedule,
)

__all__ = [
    "Callback",
    "EarlyStopping",
    "FitResult",
    "FitState",
    "LambdaCallback",
    "NonFiniteLossError",
    "atomic_save",
    "constant",
    "cosine",
    "exponential",
    "fit",
    "linear",
    "load_checkpoint",
    "read_history",
    "step_schedule",
]
