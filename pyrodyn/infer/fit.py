"""The training loop: ``fit(model, data, ...)`` calls ``model.loss(batch, **scheduled)`` each step.

Fitting is kept apart from the model (DESIGN.md): learning rates, schedules, devices, budgets and
checkpoints are arguments of :func:`fit`, never of model constructors. The loop is plain PyTorch
over ``model.parameters()`` (Pyro's module-local parameters make the model an ordinary
``nn.Module``), which is what makes exact resumption and device moves simple.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyro
import torch
from torch import nn

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.exceptions import NonFiniteLossError, NumericsWarning
from pyrodyn.infer.callbacks import Callback, FitState
from pyrodyn.infer.checkpoint import (
    CHECKPOINT_FILE,
    atomic_save,
    get_rng_state,
    load_checkpoint,
    set_rng_state,
)
from pyrodyn.infer.devices import check_model_devices, resolve_device
from pyrodyn.infer.history import HistoryWriter
from pyrodyn.infer.schedules import Schedule, build_lr_schedule, check_clock, schedule_index

logger = logging.getLogger(__name__)

#: File name of the per-step history inside ``checkpoint_dir``.
HISTORY_FILE = "history.csv"
#: Checkpoint format tag.
CHECKPOINT_FORMAT = "pyrodyn-fit-1"

_OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "radam": torch.optim.RAdam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}

# A rollback target is refreshed this often (and at every checkpoint); a run that keeps
# producing non-finite losses between two refreshes raises after ``max_nonfinite`` tries.
_SNAPSHOT_EVERY = 25


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        model: the fitted model (the same object that was passed in, on ``device``).
        history: one dict per completed step: ``step`` (1-based), ``time`` (seconds since the
            start, over resumed segments), ``lr``, ``loss``, one entry per loss term and, on
            validation steps, ``valid_loss``.
        steps_done: completed steps (including those of a resumed run).
        stopped_reason: ``"steps"`` (budget reached), ``"max_time"``, or ``"callback"``.
        elapsed: training seconds over all segments of the run.
        rollbacks: how many non-finite steps were rolled back.
    """

    model: nn.Module
    history: list[dict[str, float]] = field(default_factory=list)
    steps_done: int = 0
    stopped_reason: str = "steps"
    elapsed: float = 0.0
    rollbacks: int = 0


# ---------------------------------------------------------------------------- batches
class _Sampler:
    """Seeded random batches from a dataset or a batch (rows with replacement)."""

    def __init__(
        self,
        data: MultimodalDataset | MultimodalBatch,
        batch_size: int,
        window: int | None,
        generator: torch.Generator,
    ) -> None:
        self.data, self.batch_size, self.window, self.generator = (
            data,
            batch_size,
            window,
            generator,
        )

    def __call__(self) -> MultimodalBatch:
        if isinstance(self.data, MultimodalDataset):
            return self.data.sample_batch(
                self.batch_size, window=self.window, generator=self.generator
            )
        n = self.data.num_sequences
        if self.batch_size >= n:
            return self.data
        idx = torch.randint(n, (self.batch_size,), generator=self.generator)
        return self.data[idx.to(self.data.device)]


def _validation_batches(
    data: MultimodalDataset | MultimodalBatch, window: int | None, chunk: int
) -> list[MultimodalBatch]:
    if isinstance(data, MultimodalBatch):
        full = data
    elif window is not None and not data.static and window <= data.num_steps:
        full = data.windows(window)
    else:
        full = data.batch()
    n = full.num_sequences
    return [full[slice(i, min(i + chunk, n))] for i in range(0, n, chunk)]


def _check_data(name: str, data: Any) -> None:
    if not isinstance(data, (MultimodalDataset, MultimodalBatch)):
        raise TypeError(
            f"{name} must be a MultimodalDataset or a MultimodalBatch, got {type(data).__name__}"
        )


def _validate_against_model(model: nn.Module, data: MultimodalDataset | MultimodalBatch) -> None:
    check = getattr(model, "check_batch", None)
    if check is None:
        return
    if isinstance(data, MultimodalBatch):
        check(data)
        return
    for i in range(0, data.num_trials, 256):
        check(data.batch(torch.arange(i, min(i + 256, data.num_trials))))


# ---------------------------------------------------------------------------- optimizer
def _build_optimizer(
    optimizer: str | type | Callable[..., torch.optim.Optimizer],
    params: list[nn.Parameter],
    lr: float,
) -> torch.optim.Optimizer:
    if isinstance(optimizer, str):
        key = optimizer.lower()
        if key not in _OPTIMIZERS:
            raise ValueError(
                f"unknown optimizer {optimizer!r}; valid names: {sorted(_OPTIMIZERS)} (or pass a "
                "torch optimizer class or a factory params, lr -> Optimizer)"
            )
        return _OPTIMIZERS[key](params, lr=lr)
    if callable(optimizer):
        opt = optimizer(params, lr=lr)
        if not isinstance(opt, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer factory must return a torch.optim.Optimizer, got {type(opt).__name__}"
            )
        return opt
    raise TypeError(
        f"optimizer must be a name, a torch optimizer class or a factory, got {optimizer!r}"
    )


# ---------------------------------------------------------------------------- helpers
def _to_floats(total: torch.Tensor, terms: Mapping[str, torch.Tensor]) -> list[float]:
    """One device sync for the loss and all its terms."""
    vals = [total.detach().reshape(())]
    for v in terms.values():
        v = torch.as_tensor(v, device=vals[0].device, dtype=vals[0].dtype)
        vals.append(v.detach().reshape(()))
    return torch.stack(vals).tolist()


def _snapshot(model: nn.Module, opt: torch.optim.Optimizer) -> dict[str, Any]:
    return {
        "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "optimizer": copy.deepcopy(opt.state_dict()),
    }


def _restore(model: nn.Module, opt: torch.optim.Optimizer, snap: Mapping[str, Any]) -> None:
    model.load_state_dict(snap["model"])
    opt.load_state_dict(copy.deepcopy(snap["optimizer"]))


def _first_bad_grad(model: nn.Module) -> str:
    for name, p in model.named_parameters():
        if p.grad is not None and not bool(torch.isfinite(p.grad).all()):
            return f"gradient of {name}"
    return "gradient"


def _call_hook(cb: Any, hook: str, *args: Any) -> Any:
    if isinstance(cb, Callback) or hasattr(cb, hook):
        fn = getattr(cb, hook, None)
        return None if fn is None else fn(*args)
    if hook == "on_step_end":
        return cb(*args)
    return None


def _progress_bar(progress: bool | None, total: int, initial: int) -> Any:
    enabled = sys.stderr.isatty() if progress is None else bool(progress)
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="fit", dynamic_ncols=True, file=sys.stderr)


# ---------------------------------------------------------------------------- fit
def fit(
    model: nn.Module,
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
    ``model.loss``, back-propagates, clips the gradient norm and steps the optimizer.

    One loss evaluation runs before the optimizer is built, so parameters that a model or guide
    creates lazily on its first call are trained too (specs/ecosystem.md F.1).

    A non-finite loss or gradient skips the update, rolls the model and optimizer back to the last
    in-memory snapshot (refreshed every 25 good steps and at each checkpoint) and halves the
    learning rate; ``max_nonfinite`` such events before the next snapshot raise
    :class:`~pyrodyn.exceptions.NonFiniteLossError` naming the step and the offending term.

    With ``checkpoint_dir``, ``history.csv`` gets one row per step and ``checkpoint.pt`` (model,
    optimizer, learning-rate state, batch generator, torch/Python/NumPy RNG states, step,
    history, elapsed time; loadable with ``weights_only=True``) is written atomically every
    ``checkpoint_every`` steps and at the end. ``resume=True`` continues from it and reaches the
    same parameters as an uninterrupted run (same seed, device and step budget).

    Args:
        model: a model with ``loss(batch, **scheduled) -> (total, terms)`` (a
            :class:`~pyrodyn.models.base.GenerativeModel`).
        data: training data.
        steps: total step budget (a resumed run counts the steps already done).
        optimizer: ``"adam"``, ``"radam"``, ``"adamw"``, ``"sgd"``, a torch optimizer class, or a
            factory ``(params, lr=...) -> Optimizer``.
        lr: base learning rate.
        lr_schedule: None, ``{"type": "multistep", "milestones": [...], "gamma": 0.1}``,
            ``{"type": "cosine", "min_factor": 0.0, "warmup": 0}`` or a callable step ->
            multiplier of ``lr``.
        schedules: name -> callable step -> value, passed to ``model.loss`` as keywords.
        batch_size: sequences per step.
        window: window length drawn from each trial (None: whole trials).
        valid_data: data for the validation loss (windows of length ``window``).
        valid_every: validation period in steps (and at the last step).
        clip_norm: maximal gradient norm (None: no clipping).
        device: torch device of model and batches.
        seed: seeds batch sampling and the torch/Python/NumPy RNGs.
        callbacks: :class:`~pyrodyn.infer.callbacks.Callback` objects or callables
            ``state -> stop?``.
        checkpoint_dir: folder for ``checkpoint.pt`` and ``history.csv`` (None: none written).
        checkpoint_every: checkpoint period in steps.
        max_time: wall-clock budget in seconds of this call; stops cleanly with
            ``stopped_reason="max_time"`` and a final checkpoint.
        resume: continue from ``checkpoint_dir/checkpoint.pt`` if it exists.
        progress: show a tqdm bar (None: only when stderr is a terminal).
        max_nonfinite: non-finite events tolerated between snapshots.
        config: plain data stored in the checkpoint (the resolved run config).
        devices: processes (CPU cores or GPUs); more than 1 trains data-parallel on Lightning
            Fabric (:mod:`pyrodyn.infer.distributed`; ``batch_size`` is then per process).
        strategy: multi-process strategy (``"ddp"``, ``"ddp_spawn"``, ``"ddp_fork"``).
        schedule_clock: what drives ``lr_schedule`` and ``schedules``: ``"steps"`` (the step
            index) or ``"time"`` (needs ``max_time``: the index is the larger of the step and
            ``steps`` times the fraction of the time budget used, so a time-limited run finishes
            its decay whichever budget runs out first; the run is then reproducible only up to
            timing).

    Returns:
        A :class:`FitResult`.

    Raises:
        NonFiniteLossError: the loss stayed non-finite after ``max_nonfinite`` rollbacks.
    """
    if devices != 1:  # several processes: Lightning Fabric (pyrodyn/infer/distributed.py)
        arguments = dict(locals())
        from pyrodyn.infer.distributed import fit_distributed

        return fit_distributed(**arguments)
    _check_args(
        model,
        data,
        steps,
        lr,
        batch_size,
        window,
        valid_every,
        clip_norm,
        checkpoint_every,
        max_time,
        max_nonfinite,
        resume,
        checkpoint_dir,
    )
    check_clock(schedule_clock, max_time)
    _check_data("data", data)
    if valid_data is not None:
        _check_data("valid_data", valid_data)
    schedules = dict(schedules or {})
    for name, fn in schedules.items():
        if not callable(fn):
            raise TypeError(f"schedule {name!r} must be a callable step -> value, got {fn!r}")
    lr_mult = build_lr_schedule(lr_schedule, steps=steps)
    device = resolve_device(device)
    callbacks = list(callbacks)

    model.to(device)
    check_model_devices(model, device)
    model.train()
    _validate_against_model(model, data)
    if valid_data is not None:
        _validate_against_model(model, valid_data)

    pyro.set_rng_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    sampler = _Sampler(data, batch_size, window, generator)

    # one loss evaluation before building the optimizer: materialises lazily-created parameters
    # (specs/ecosystem.md F.1) without consuming the training random streams
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        warm_gen = torch.Generator().manual_seed(seed + 1)
        warm = _Sampler(data, batch_size, window, warm_gen)().to(device)
        with torch.no_grad():
            model.loss(warm, **{k: fn(0) for k, fn in schedules.items()})

    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    opt = _build_optimizer(optimizer, params, lr)
    base_lrs = [g["lr"] for g in opt.param_groups]

    start_step, elapsed0, lr_factor, bad_count = 0, 0.0, 1.0, 0
    history: list[dict[str, float]] = []
    ckpt_path = None if checkpoint_dir is None else os.path.join(checkpoint_dir, CHECKPOINT_FILE)
    if resume and ckpt_path is not None and os.path.exists(ckpt_path):
        ckpt = load_checkpoint(ckpt_path)
        if ckpt.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{ckpt_path!r} is not a resumable pyrodyn fit checkpoint")
        model.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        generator.set_state(ckpt["generator"])
        set_rng_state(ckpt["rng"], device)
        start_step, elapsed0 = int(ckpt["step"]), float(ckpt["elapsed"])
        lr_factor, bad_count = float(ckpt["lr_factor"]), int(ckpt.get("bad_count", 0))
        history = [dict(r) for r in ckpt["history"]]
        logger.info("resuming from %s at step %d", ckpt_path, start_step)
    elif resume and ckpt_path is not None:
        logger.warning("resume requested but %s does not exist; starting afresh", ckpt_path)

    writer = (
        None
        if checkpoint_dir is None
        else HistoryWriter(os.path.join(checkpoint_dir, HISTORY_FILE), history)
    )
    valid_batches = (
        None
        if valid_data is None
        else [b.to(device) for b in _validation_batches(valid_data, window, max(batch_size, 64))]
    )

    def save(step: int, elapsed: float, reason: str | None) -> None:
        if ckpt_path is None:
            return
        writer.flush()
        atomic_save(
            {
                "format": CHECKPOINT_FORMAT,
                "state_dict": model.state_dict(),
                "optimizer": opt.state_dict(),
                "lr_factor": lr_factor,
                "base_lrs": base_lrs,
                "bad_count": bad_count,
                "generator": generator.get_state(),
                "rng": get_rng_state(device),
                "step": step,
                "steps": steps,
                "history": history,
                "elapsed": elapsed,
                "stopped_reason": reason,
                "seed": seed,
                "config": dict(config or {}),
            },
            ckpt_path,
        )

    state = FitState(model=model, optimizer=opt, step=start_step, steps=steps, history=history)
    for cb in callbacks:
        _call_hook(cb, "on_fit_start", state)

    snapshot = _snapshot(model, opt)
    rollbacks = 0
    reason = "steps"
    step = start_step
    t0 = time.perf_counter()
    bar = _progress_bar(progress, steps, start_step)
    last_bar = 0.0
    try:
        while step < steps:
            if max_time is not None and time.perf_counter() - t0 >= max_time:
                reason = "max_time"
                break
            idx = schedule_index(
                schedule_clock, step, steps, elapsed0 + time.perf_counter() - t0, elapsed0, max_time
            )
            values = {k: fn(idx) for k, fn in schedules.items()}
            mult = 1.0 if lr_mult is None else float(lr_mult(idx))
            for g, base in zip(opt.param_groups, base_lrs):
                g["lr"] = base * mult * lr_factor
            batch = sampler().to(device)
            opt.zero_grad(set_to_none=True)
            total, terms = model.loss(batch, **values)
            floats = _to_floats(total, terms)
            bad = None
            if not math.isfinite(floats[0]):
                bad = next((k for k, v in zip(terms, floats[1:]) if not math.isfinite(v)), "loss")
                bad_value = next((v for v in floats[1:] if not math.isfinite(v)), floats[0])
            else:
                total.backward()
                norm = torch.nn.utils.clip_grad_norm_(
                    params, math.inf if clip_norm is None else clip_norm
                )
                if not bool(torch.isfinite(norm)):
                    bad, bad_value = _first_bad_grad(model), float(norm)
            if bad is not None:
                bad_count += 1
                rollbacks += 1
                if bad_count >= max_nonfinite:
                    raise NonFiniteLossError(
                        f"non-finite value at step {step + 1}: {bad} = {bad_value} "
                        f"({bad_count} times since the last good snapshot, each rolled back "
                        "with the learning rate halved); lower lr, raise clip_norm strictness "
                        "or check the data/initialisation"
                    )
                warnings.warn(
                    f"non-finite value at step {step + 1}: {bad} = {bad_value}; rolled back to "
                    f"the last good state and halved the learning rate",
                    NumericsWarning,
                    stacklevel=2,
                )
                opt.zero_grad(set_to_none=True)
                _restore(model, opt, snapshot)
                lr_factor *= 0.5
                continue
            opt.step()
            step += 1
            elapsed = elapsed0 + time.perf_counter() - t0
            record: dict[str, float] = {
                "step": step,
                "time": elapsed,
                "lr": opt.param_groups[0]["lr"],
                "loss": floats[0],
            }
            record.update(zip(terms, floats[1:]))
            if valid_batches is not None and (step % valid_every == 0 or step == steps):
                record["valid_loss"] = _validation_loss(model, valid_batches, values, seed, device)
            history.append(record)
            last_bar = _log_step(record, writer, bar, last_bar, final=step == steps)
            state.step, state.record, state.elapsed = step, record, elapsed
            stop = False
            for cb in callbacks:
                stop = bool(_call_hook(cb, "on_step_end", state)) or stop
            if step % _SNAPSHOT_EVERY == 0 or step % checkpoint_every == 0:
                snapshot = _snapshot(model, opt)
                bad_count = 0
            if step % checkpoint_every == 0 and step < steps and not stop:
                save(step, elapsed, None)
            if stop:
                reason = "callback"
                break
        elapsed = elapsed0 + time.perf_counter() - t0
        state.elapsed = elapsed
        # before the final checkpoint, so that what a callback does to the model here (e.g.
        # restoring the best weights) is what the run directory keeps
        for cb in callbacks:
            _call_hook(cb, "on_fit_end", state, reason)
        save(step, elapsed, reason)
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
    if reason == "max_time":
        logger.info("stopped after %d steps: max_time %.1f s reached", step, max_time)
    return FitResult(
        model=model,
        history=history,
        steps_done=step,
        stopped_reason=reason,
        elapsed=elapsed,
        rollbacks=rollbacks,
    )


def _log_step(
    record: dict[str, float], writer: Any, bar: Any, last_bar: float, *, final: bool
) -> float:
    """Appends a history row and refreshes the progress bar (at most twice a second).

    Returns:
        The time of the last progress-bar refresh.
    """
    if writer is not None:
        writer.append(record)
    if bar is not None:
        bar.update(1)
        now = time.perf_counter()
        if now - last_bar > 0.5 or final:
            last_bar = now
            bar.set_postfix(
                {k: f"{v:.4g}" for k, v in record.items() if k not in ("step", "time")},
                refresh=False,
            )
    return last_bar


def _validation_loss(
    model: nn.Module,
    batches: list[MultimodalBatch],
    values: Mapping[str, float],
    seed: int,
    device: torch.device,
) -> float:
    """Mean loss over validation batches, weighted by their normaliser.

    Runs on its own fixed random stream, so validating never changes the training trajectory.
    """
    model.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed + 2)
            num, den = 0.0, 0.0
            with torch.no_grad():
                for b in batches:
                    total, _ = model.loss(b, **values)
                    norm = model.normaliser(b) if hasattr(model, "normaliser") else 1.0
                    num += float(total) * float(norm)
                    den += float(norm)
        return num / max(den, 1e-12)
    finally:
        model.train()


def _check_args(
    model: Any,
    data: Any,
    steps: int,
    lr: float,
    batch_size: int,
    window: int | None,
    valid_every: int,
    clip_norm: float | None,
    checkpoint_every: int,
    max_time: float | None,
    max_nonfinite: int,
    resume: bool,
    checkpoint_dir: Any,
) -> None:
    if not callable(getattr(model, "loss", None)) or not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be an nn.Module with loss(batch, **scheduled), got {type(model).__name__}"
        )
    if isinstance(steps, bool) or int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    if window is not None and int(window) < 1:
        raise ValueError(f"window must be None or >= 1, got {window!r}")
    if int(valid_every) < 1:
        raise ValueError(f"valid_every must be >= 1, got {valid_every!r}")
    if clip_norm is not None and not clip_norm > 0:
        raise ValueError(f"clip_norm must be None or positive, got {clip_norm!r}")
    if int(checkpoint_every) < 1:
        raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every!r}")
    if max_time is not None and not max_time > 0:
        raise ValueError(f"max_time must be None or positive seconds, got {max_time!r}")
    if int(max_nonfinite) < 1:
        raise ValueError(f"max_nonfinite must be >= 1, got {max_nonfinite!r}")
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs a checkpoint_dir to resume from")


__all__ = ["HISTORY_FILE", "FitResult", "fit"]
