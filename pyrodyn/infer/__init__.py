"""Fitting: ``fit`` and its data-parallel launcher, schedules, callbacks, history, checkpoints.

Layout: :mod:`~pyrodyn.infer.loop` owns the training loop (step, rollback, history, callbacks,
checkpoint, resume) and runs on a :mod:`~pyrodyn.infer.strategy` (one process or one Fabric
rank); :mod:`~pyrodyn.infer.fit` and :mod:`~pyrodyn.infer.distributed` only validate
(:mod:`~pyrodyn.infer.options`), prepare the model (:mod:`~pyrodyn.infer.prepare`) and launch
it. Batches come from :mod:`~pyrodyn.infer.sampler`, optimizer and rollback snapshot from
:mod:`~pyrodyn.infer.optim`, the resumable counters from :mod:`~pyrodyn.infer.state`.
"""

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
