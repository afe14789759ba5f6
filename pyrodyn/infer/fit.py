"""``fit(model, data, ...)``: the single-process launcher of the training loop.

Fitting is kept apart from the model (DESIGN.md): learning rates, schedules, devices, budgets and
checkpoints are arguments of :func:`fit`, never of model constructors. ``fit`` validates its
arguments, prepares the model (:mod:`pyrodyn.infer.prepare`) and runs the
:class:`~pyrodyn.infer.loop.TrainingLoop` on a single-process
:class:`~pyrodyn.infer.strategy.Strategy`; with ``devices > 1`` it hands the same options to the
Lightning Fabric launcher (:mod:`pyrodyn.infer.distributed`), which runs the same loop on every
rank.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.infer.callbacks import Callback, FitState
from pyrodyn.infer.devices import resolve_device
from pyrodyn.infer.distributed import launch_distributed
from pyrodyn.infer.history import HISTORY_FILE
from pyrodyn.infer.loop import TrainingLoop
from pyrodyn.infer.options import FitOptions
from pyrodyn.infer.prepare import check_inputs, prepare_model
from pyrodyn.infer.schedules import Schedule
from pyrodyn.infer.state import FitResult
from pyrodyn.infer.strategy import Strategy
from pyrodyn.models.base import GenerativeModel
from pyrodyn.models.params import local_params


def fit(
    model: GenerativeModel,
    data: MultimodalDataset | MultimodalBatch,
    *,
    steps: int = 1000,
    optimizer: str | type | Callable[..., torch.optim.Optimizer] = "adam",
    lr: float = 1e-3,
    lr_schedule: Mapping[str, Any] | Schedule | None = None,
    schedules: Mapping[str, Schedule] | None = None,
    batch_size: int = 16,
    window: int | None = None,
    valid_data: MultimodalDataset | MultimodalBatch | None = None,
    valid_every: int = 100,
    clip_norm: float | None = 5.0,
    device: str | torch.device = "cpu",
    seed: int = 0,
    callbacks: Iterable[Callback | Callable[[FitState], bool | None]] = (),
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 500,
    max_time: float | None = None,
    resume: bool = False,
    progress: bool | None = None,
    max_nonfinite: int = 3,
    config: Mapping[str, Any] | None = None,
    devices: int = 1,
    strategy: str = "ddp",
    schedule_clock: str = "steps",
) -> FitResult:
    """Fits ``model`` by minimising ``model.loss(batch, **scheduled)`` with a torch optimizer.

    Each step draws a seeded random batch (windows of length ``window`` from a
    :class:`~pyrodyn.data.dataset.MultimodalDataset`, or rows of a batch), moves it to
    ``device`` once, evaluates every schedule at the 0-based step index and passes the values to
    ``model.loss``, back-propagates, clips the gradient norm and steps the optimizer. The model
    runs with module-local Pyro parameters for the whole fit (Pyro's global settings are
    restored afterwards).

    Before the optimizer exists, one loss evaluation creates parameters that a model or guide
    makes lazily on its first call (specs/ecosystem.md F.1), and a fresh (not resumed) fit calls
    ``model.init_from_data(batch)`` once with the first training batch (read from the training
    stream without advancing it; step 1 trains on it). Neither changes a random draw of the
    training (:mod:`pyrodyn.infer.prepare`).

    A step diverges when its loss or a term is not finite, when torch's distribution validation
    raises inside the loss after an update moved the parameters (a value that left its
    constraint, e.g. a scale of 0 after a huge step), when the gradient norm is not finite, or
    when the update makes a parameter non-finite. The update is then undone: model and
    optimizer roll back to the last in-memory snapshot (refreshed every 25 good steps and at each
    checkpoint) and the learning rate is halved; ``max_nonfinite`` such events before the next
    snapshot raise :class:`~pyrodyn.exceptions.NonFiniteLossError` naming the step and the
    offending term (or the rejected value and its site). Any other exception of the loss, and a
    validation error at the initial (finite) parameters, propagates unchanged.

    With ``checkpoint_dir``, ``history.csv`` gets one row per step and ``checkpoint.pt`` (model,
    optimizer, learning-rate factor, batch generator, torch/Python/NumPy RNG states, step,
    history, elapsed time; loadable with ``weights_only=True``) is written atomically every
    ``checkpoint_every`` steps and at the end. ``resume=True`` continues from it and reaches the
    same parameters as an uninterrupted run (same seed, device, number of processes and
    budgets), also after rollbacks and on the time clock.

    Args:
        model: a :class:`~pyrodyn.models.base.GenerativeModel`.
        data: training data.
        steps: total step budget (a resumed run counts the steps already done).
        optimizer: ``"adam"``, ``"radam"``, ``"adamw"``, ``"sgd"``, a torch optimizer class, or a
            factory ``(params, lr=...) -> Optimizer``.
        lr: base learning rate (finite, > 0).
        lr_schedule: None, ``{"type": "multistep", "milestones": [...], "gamma": 0.1}``,
            ``{"type": "cosine", "min_factor": 0.0, "warmup": 0}`` or a callable step ->
            multiplier of ``lr``.
        schedules: name -> callable step -> value, passed to ``model.loss`` as keywords.
        batch_size: sequences per step (per process with ``devices > 1``).
        window: window length drawn from each trial (None: whole trials).
        valid_data: data for the validation loss (windows of length ``window``).
        valid_every: validation period in steps (and at the last step).
        clip_norm: maximal gradient norm (finite, > 0; None: no clipping).
        device: torch device of model and batches.
        seed: seeds batch sampling and the torch/Python/NumPy RNGs.
        callbacks: :class:`~pyrodyn.infer.callbacks.Callback` objects or callables
            ``state -> stop?``.
        checkpoint_dir: folder for ``checkpoint.pt`` and ``history.csv`` (None: none written).
        checkpoint_every: checkpoint period in steps.
        max_time: training-time budget in seconds of the whole run (finite, > 0; None: no
            budget; like ``steps``, a resumed run counts the time already spent; pass a larger
            value to extend a run that stopped on it); stops cleanly with
            ``stopped_reason="max_time"`` and a final checkpoint.
        resume: continue from ``checkpoint_dir/checkpoint.pt`` if it exists.
        progress: show a tqdm bar (None: only when stderr is a terminal).
        max_nonfinite: divergences tolerated between snapshots.
        config: plain data stored in the checkpoint (the resolved run config).
        devices: processes (CPU cores or GPUs); more than 1 trains data-parallel on Lightning
            Fabric (:mod:`pyrodyn.infer.distributed`; ``batch_size`` is then per process).
        strategy: multi-process strategy (``"ddp"``, ``"ddp_spawn"``, ``"ddp_fork"``).
        schedule_clock: what drives ``lr_schedule`` and ``schedules``: ``"steps"`` (the step
            index) or ``"time"`` (needs ``max_time``: the index is the larger of the step and
            ``steps`` times the fraction of ``max_time`` used, so a time-limited run finishes
            its decay whichever budget runs out first; the run is then reproducible only up to
            timing).

    Returns:
        A :class:`~pyrodyn.infer.state.FitResult`.

    Raises:
        TypeError: ``model`` is not a GenerativeModel, or an argument of the wrong kind.
        ValueError: an argument out of range (the message names it).
        NonFiniteLossError: the step kept diverging after ``max_nonfinite`` rollbacks.
    """
    options = FitOptions(
        steps=steps,
        optimizer=optimizer,
        lr=lr,
        lr_schedule=lr_schedule,
        schedules=schedules,
        batch_size=batch_size,
        window=window,
        valid_data=valid_data,
        valid_every=valid_every,
        clip_norm=clip_norm,
        device=device,
        seed=seed,
        callbacks=callbacks,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
        max_time=max_time,
        resume=resume,
        progress=progress,
        max_nonfinite=max_nonfinite,
        config=config,
        schedule_clock=schedule_clock,
    )
    if devices != 1:
        return launch_distributed(model, data, options, devices=devices, strategy=strategy)
    check_inputs(model, data, options)
    dev = resolve_device(options.device)
    with local_params(model):
        prepare_model(model, data, options, dev)
        return TrainingLoop(model, data, options, Strategy(dev)).run()


__all__ = ["HISTORY_FILE", "FitResult", "fit"]
