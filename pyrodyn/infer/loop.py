"""The training loop: step, rollback, history, callbacks, checkpoint and resume, written once.

:class:`TrainingLoop` runs a prepared model (:mod:`pyrodyn.infer.prepare`) on one
:class:`~pyrodyn.infer.strategy.Strategy`: the single-process :func:`~pyrodyn.infer.fit` and the
Lightning Fabric launcher (:mod:`pyrodyn.infer.distributed`) differ only in the strategy they
hand it. Each step the loop

1. agrees on whether to go on (rank 0 decides: callbacks, step budget, time budget) and on the
   index at which schedules are evaluated (the step, or with the time clock the fraction of the
   time budget used), in one broadcast;
2. sets the learning rates (base x ``lr_schedule`` x rollback factor), draws this rank's rows of
   the step's batch, evaluates ``model.loss(batch, **scheduled)`` through the strategy and
   averages the loss and its terms over the ranks;
3. back-propagates, clips the gradient norm and steps the optimizer, unless the step diverges
   (non-finite loss, term, gradient or updated parameter, or a distribution-validation error in
   the loss once an update has moved the parameters): then it restores the last snapshot,
   halves the learning rate and draws a new batch;
4. appends the history row, runs callbacks, refreshes the snapshot and writes checkpoints
   (rank 0 writes; every rank's RNG state is gathered into it).

A checkpoint restores everything the next step depends on (parameters, optimizer, learning-rate
factor, rollback count, batch stream, every rank's RNG states, history, elapsed time), so a
resumed fit continues bit-identically to an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import pyro
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.exceptions import NonFiniteLossError, NumericsWarning
from pyrodyn.infer.callbacks import CallbackList, FitState
from pyrodyn.infer.checkpoint import (
    CHECKPOINT_FORMAT,
    atomic_save,
    get_rng_state,
    read_fit_checkpoint,
    set_rng_state,
)
from pyrodyn.infer.devices import check_model_devices
from pyrodyn.infer.history import StepLog
from pyrodyn.infer.optim import (
    Snapshot,
    build_optimizer,
    describe_validation_error,
    is_validation_error,
    loss_floats,
    non_finite_gradient,
    non_finite_parameter,
    non_finite_term,
    trainable_parameters,
)
from pyrodyn.infer.options import FitOptions
from pyrodyn.infer.sampler import ShardedSampler
from pyrodyn.infer.schedules import build_lr_schedule, schedule_index
from pyrodyn.infer.state import FitResult, LoopState, Stopwatch
from pyrodyn.infer.strategy import Strategy, rank_seed
from pyrodyn.infer.validation import validation_batches, validation_loss
from pyrodyn.io import remove_orphan_temporaries
from pyrodyn.models.base import GenerativeModel

logger = logging.getLogger(__name__)

#: The rollback target is refreshed this often (and at every checkpoint); ``max_nonfinite``
#: divergences between two refreshes raise.
SNAPSHOT_EVERY = 25

# what rank 0 broadcasts before each step
_GO, _STOP_STEPS, _STOP_CALLBACK, _STOP_TIME = 0, 1, 2, 3
_REASONS = {_STOP_STEPS: "steps", _STOP_CALLBACK: "callback", _STOP_TIME: "max_time"}


def _is_number(value: Any) -> bool:
    if torch.is_tensor(value):
        return value.numel() == 1
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class TrainingLoop:
    """Fits a prepared model on one strategy (one process, or one rank of several).

    Args:
        model: the model, prepared by :func:`~pyrodyn.infer.prepare.prepare_model`.
        data: the training data.
        options: validated options.
        strategy: how this process talks to the other ranks.
    """

    def __init__(
        self,
        model: GenerativeModel,
        data: MultimodalDataset | MultimodalBatch,
        options: FitOptions,
        strategy: Strategy,
    ) -> None:
        self.model, self.options, self.strategy = model, options, strategy
        self.device = strategy.device
        self.main = strategy.is_main
        self.schedules = dict(options.schedules or {})
        self.lr_mult = build_lr_schedule(options.lr_schedule, steps=options.steps)
        self.callbacks = CallbackList(options.callbacks if self.main else ())
        self.generator = torch.Generator().manual_seed(options.seed)
        self.sampler = ShardedSampler(
            data,
            options.batch_size,
            options.window,
            self.generator,
            strategy.rank,
            strategy.world_size,
        )
        self.state = LoopState()

    # ------------------------------------------------------------------ set-up
    def _setup(self) -> None:
        """Optimizer, resume, the strategy's wrapping, history, validation batches, clock."""
        o, model = self.options, self.model
        model.to(self.device)
        check_model_devices(model, self.device)
        model.train()
        pyro.set_rng_seed(rank_seed(o.seed, self.strategy.rank))
        self.params = trainable_parameters(model)
        self.optimizer = build_optimizer(o.optimizer, self.params, float(o.lr))
        self.base_lrs = [g["lr"] for g in self.optimizer.param_groups]
        if self.main and o.checkpoint_dir is not None:
            for name in remove_orphan_temporaries(o.checkpoint_dir):
                logger.info("removed %s, left by an interrupted checkpoint write", name)
        if o.resumes:
            self._restore(read_fit_checkpoint(o.checkpoint_path))
        elif o.resume and self.main:
            logger.warning(
                "resume requested but %s does not exist; starting afresh", o.checkpoint_path
            )
        self.loss_fn, self.stepper = self.strategy.setup(model, self.optimizer)
        self.log = None
        self.valid = None
        if self.main:
            self.log = StepLog(
                o.history_path,
                self.state.history,
                progress=o.progress,
                total=o.steps,
                initial=self.state.step,
                max_time=o.max_time,
            )
            if o.valid_data is not None:
                chunk = max(o.batch_size, 64)
                batches = validation_batches(o.valid_data, o.window, chunk)
                self.valid = [b.to(self.device) for b in batches]
        self.snapshot = Snapshot(model, self.optimizer)
        self.fit_state = FitState(
            model=model,
            optimizer=self.optimizer,
            step=self.state.step,
            steps=o.steps,
            history=self.state.history,
            elapsed=self.state.elapsed,
            index=self.state.step,
        )
        self.clock = Stopwatch(self.state.elapsed)

    def _restore(self, ckpt: dict[str, Any]) -> None:
        """Loads model, optimizer, batch stream, RNG states and counters from a checkpoint."""
        self.model.load_state_dict(ckpt["state_dict"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.generator.set_state(ckpt["generator"])
        self.state = LoopState.from_checkpoint(ckpt)
        rank, world = self.strategy.rank, self.strategy.world_size
        ranks = ckpt.get("rng_ranks") or [ckpt["rng"]]  # early checkpoints hold rank 0's only
        if len(ranks) == world:
            set_rng_state(ranks[rank], self.device)
        else:
            if self.main:
                warnings.warn(
                    f"resuming a checkpoint written by {len(ranks)} process(es) on {world}: "
                    "training continues, but not bit-identically",
                    RuntimeWarning,
                    stacklevel=4,
                )
            set_rng_state(ckpt["rng"], self.device)
            pyro.set_rng_seed(rank_seed(self.options.seed + self.state.step, rank))
        if self.main:
            logger.info(
                "resuming from %s at step %d on %d rank(s)",
                self.options.checkpoint_path,
                self.state.step,
                world,
            )

    # ------------------------------------------------------------------ the loop
    def run(self) -> FitResult:
        """Trains until a budget is spent or a callback stops; writes the final checkpoint."""
        self._setup()
        o, state = self.options, self.state
        self.callbacks.on_fit_start(self.fit_state)
        try:
            stop_requested = False
            while True:
                code, idx = self._agree(stop_requested)
                if code != _GO:
                    reason = _REASONS[code]
                    break
                record = self._attempt(idx)
                if record is not None:
                    self.fit_state.index = idx + 1  # equals the step count on the step clock
                    stop_requested = self._finish_step(record)
            self.strategy.finish(self.model)  # every rank, before a callback may change weights
            state.elapsed = self.clock.read()
            self.fit_state.elapsed = state.elapsed
            # before the final checkpoint, so that what a callback does to the model here (e.g.
            # restoring the best weights) is what the run directory keeps
            self.callbacks.on_fit_end(self.fit_state, reason)
            self._save(reason)
        finally:
            if self.log is not None:
                self.log.close()
        if self.main and self.strategy.divergence > 0:
            warnings.warn(
                "ranks ended with different parameters (fingerprint difference "
                f"{self.strategy.divergence:.3g})",
                RuntimeWarning,
                stacklevel=2,
            )
        if self.main and reason == "max_time":
            logger.info("stopped after %d steps: max_time %.1f s reached", state.step, o.max_time)
        return FitResult(
            model=self.model,
            history=state.history,
            steps_done=state.step,
            stopped_reason=reason,
            elapsed=state.elapsed,
            rollbacks=state.rollbacks,
        )

    def _agree(self, stop_requested: bool) -> tuple[int, int]:
        """Rank 0's stop code (callback, steps, time; in that order) and schedule index."""
        o, step = self.options, self.state.step
        code, idx = _GO, step
        if self.main:
            elapsed = self.clock.read()
            if stop_requested:
                code = _STOP_CALLBACK
            elif step >= o.steps:
                code = _STOP_STEPS
            elif o.max_time is not None and elapsed >= o.max_time:
                code = _STOP_TIME
            # max_time is the budget of the whole run, so the time clock is elapsed / max_time
            idx = schedule_index(o.schedule_clock, step, o.steps, elapsed, 0.0, o.max_time)
        code, idx = self.strategy.broadcast([code, idx])
        return code, idx

    def _attempt(self, idx: int) -> dict[str, float] | None:
        """One step at schedule index ``idx``; its history row, or None if it was rolled back."""
        state, model = self.state, self.model
        values = {k: fn(idx) for k, fn in self.schedules.items()}
        mult = 1.0 if self.lr_mult is None else float(self.lr_mult(idx))
        if not (math.isfinite(mult) and mult >= 0):  # a callable lr_schedule is checked here
            raise ValueError(
                f"lr_schedule must give a finite multiplier >= 0, got {mult!r} at index {idx}"
            )
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = base * mult * state.lr_factor
        batch = self.sampler().to(self.device)
        self.stepper.zero_grad(set_to_none=True)
        error: ValueError | None = None
        try:
            total, terms = self.loss_fn(batch, **values)
        except ValueError as err:
            if not self._diverged(err):
                raise
            error, floats = err, self.strategy.mean({"loss": math.nan})
        else:
            floats = self.strategy.mean(loss_floats(total, terms))
        bad = non_finite_term(floats)  # the mean over ranks: every rank agrees
        if error is not None:
            bad = describe_validation_error(error)
        if bad is None:
            self.strategy.backward(total)
            clip = math.inf if self.options.clip_norm is None else self.options.clip_norm
            norm = torch.nn.utils.clip_grad_norm_(self.params, clip)
            bad = non_finite_gradient(model, norm)  # all-reduced: the same on every rank
        if bad is None:
            self.stepper.step()
            bad = non_finite_parameter(model, self.params)
        if bad is not None:
            self._roll_back(bad, error)
            return None
        state.step += 1
        record = {
            "step": state.step,
            "time": self.clock.read(),
            "lr": self.optimizer.param_groups[0]["lr"],
            **floats,
            # the scheduled values this step used (beta, alpha, horizon, ...)
            **{f"schedule.{k}": float(v) for k, v in values.items() if _is_number(v)},
        }
        if self.valid is not None:
            if state.step % self.options.valid_every == 0 or state.step == self.options.steps:
                record["valid_loss"] = validation_loss(
                    model, self.valid, values, self.options.seed, self.device
                )
        return record

    def _diverged(self, err: ValueError) -> bool:
        """Whether a ValueError of the loss is a divergence, to be rolled back.

        It is when torch's distribution validation rejects a value after an update moved the
        parameters (a huge step turns a scale to 0 or a latent to NaN before any loss is
        computed), or while a parameter is not finite. A rejection at the initial parameters
        (no step done yet) is the model's or the data's error, and so is any other ValueError:
        those propagate unchanged.
        """
        if not is_validation_error(err):
            return False
        if self.state.step > 0:
            return True
        return non_finite_parameter(self.model, self.params, "before the step") is not None

    def _roll_back(self, bad: str, error: BaseException | None) -> None:
        """Restores the last snapshot and halves the learning rate (raises when it recurs)."""
        state = self.state
        state.bad_count += 1
        state.rollbacks += 1
        where = f"non-finite value at step {state.step + 1}: {bad}"
        if state.bad_count >= self.options.max_nonfinite:
            raise NonFiniteLossError(
                f"{where} ({state.bad_count} times since the last good snapshot, each rolled "
                "back with the learning rate halved); lower lr, raise clip_norm strictness or "
                "check the data/initialisation"
            ) from error
        if self.main:
            warnings.warn(
                f"{where}; rolled back to the last good state and halved the learning rate",
                NumericsWarning,
                stacklevel=4,
            )
        self.stepper.zero_grad(set_to_none=True)
        self.snapshot.restore()
        state.lr_factor *= 0.5

    def _finish_step(self, record: dict[str, float]) -> bool:
        """History, callbacks, snapshot and periodic checkpoint; whether a callback stops."""
        o, state = self.options, self.state
        state.history.append(record)
        stop = False
        if self.main:
            self.log.append(record, final=state.step == o.steps)
            self.fit_state.step, self.fit_state.record = state.step, record
            self.fit_state.elapsed = record["time"]
            stop = self.callbacks.on_step_end(self.fit_state)
        if state.step % SNAPSHOT_EVERY == 0 or state.step % o.checkpoint_every == 0:
            self.snapshot.take()
            state.bad_count = 0
        due = state.step % o.checkpoint_every == 0 and state.step < o.steps
        if due and o.checkpoint_path is not None:
            # a run stopping now writes its final checkpoint instead; every rank must agree
            (stop_now,) = self.strategy.broadcast([int(stop)])
            if not stop_now:
                self._save(None)
        return stop

    def _save(self, reason: str | None) -> None:
        """Writes ``checkpoint.pt`` atomically (rank 0; every rank must call it)."""
        o, state = self.options, self.state
        if o.checkpoint_path is None:
            return
        rngs = self.strategy.gather(get_rng_state(self.device))
        if not self.main:
            return
        # read now: time spent in callbacks counts, as it does for the uninterrupted run
        state.elapsed = self.clock.read()
        self.log.flush()
        atomic_save(
            {
                "format": CHECKPOINT_FORMAT,
                "state_dict": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "base_lrs": self.base_lrs,
                "generator": self.generator.get_state(),
                "rng": rngs[0],
                "rng_ranks": rngs,
                "world_size": self.strategy.world_size,
                "steps": o.steps,
                "stopped_reason": reason,
                "seed": o.seed,
                "config": dict(o.config or {}),
                **state.to_checkpoint(),
            },
            o.checkpoint_path,
        )


__all__ = ["SNAPSHOT_EVERY", "TrainingLoop"]
