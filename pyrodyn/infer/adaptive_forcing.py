"""Adaptive generalized teacher forcing during ``fit``: the callback that moves ``alpha``.

Generalized teacher forcing (Hess et al., ICML 2023) mixes the forced units as
``z_t ← (1 − α) F(z_{t−1}) + α z̃_t``. Its adaptive variant sets ``α = max(0, 1 − 1/G)``, with G
the growth of the Jacobian spectral norms of the latent map along training sequences, and lets α
decay geometrically between estimates (:class:`~pyrodyn.dynamics.forcing.AdaptiveForcingAlpha`).
That object is the ``alpha`` schedule ``fit`` passes to the loss; :class:`AdaptiveForcingUpdate`
re-estimates it every ``every`` steps from the model's teacher-forced latent states.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.dynamics.base import DynamicsModel
from pyrodyn.dynamics.forcing import AdaptiveForcingAlpha
from pyrodyn.infer.callbacks import Callback, FitState
from pyrodyn.infer.checkpoint import forked_rng

logger = logging.getLogger(__name__)


def _check_model(model: Any) -> None:
    """Raises TypeError unless the model has a ``dynamics`` and ``teacher_states(batch)``."""
    missing = []
    if not isinstance(getattr(model, "dynamics", None), DynamicsModel):
        missing.append("a `dynamics` attribute that is a DynamicsModel")
    if not callable(getattr(model, "teacher_states", None)):
        missing.append("a method `teacher_states(batch) -> (B, T, M)` giving latent states")
    if missing:
        raise TypeError(
            f"adaptive forcing needs a teacher-forced model (MTF, BPTT-TF); "
            f"{type(model).__name__} lacks {' and '.join(missing)}"
        )


class AdaptiveForcingUpdate(Callback):
    """Re-estimates an adaptive GTF ``alpha`` every ``every`` steps (Hess et al., ICML 2023).

    Every ``every`` completed steps it draws ``batch_size`` training windows (from its own
    generator seeded with ``seed + step``, so the training batch stream and the global RNG are
    untouched), takes the latent states along them (``model.teacher_states``) and calls
    ``alpha.update(model.dynamics, states, inputs)`` without gradients, the model's mode
    restored. Pass the same ``alpha`` as the schedule: ``fit(..., schedules={"alpha": alpha},
    callbacks=[AdaptiveForcingUpdate(alpha, data)])``.

    A fresh fit starts from ``alpha``'s value at construction; a resumed one restores the value
    of the last history row's ``schedule.<name>`` (and repeats the update that followed that
    step), so it continues as the uninterrupted fit would. Single-process fits only: the
    callbacks run on rank 0, and other ranks would keep a stale ``alpha``.

    Args:
        alpha: the adaptive schedule to update.
        data: the training data (sequences).
        every: steps between updates (>= 1).
        batch_size: windows per estimate (>= 1).
        window: window length (None: whole trials; capped at the trial length).
        seed: seed of the window draws.
        name: the schedule's name (its history column is ``schedule.<name>``).

    Raises:
        TypeError: ``alpha`` is not an AdaptiveForcingAlpha or ``data`` not a MultimodalDataset;
            at fit start, a model without ``dynamics`` and ``teacher_states``.
        ValueError: a bad ``every``, ``batch_size`` or ``window``, or static data.
    """

    def __init__(
        self,
        alpha: AdaptiveForcingAlpha,
        data: MultimodalDataset,
        *,
        every: int = 100,
        batch_size: int = 16,
        window: int | None = 200,
        seed: int = 0,
        name: str = "alpha",
    ) -> None:
        if not isinstance(alpha, AdaptiveForcingAlpha):
            raise TypeError(f"alpha must be an AdaptiveForcingAlpha, got {type(alpha).__name__}")
        if not isinstance(data, MultimodalDataset):
            raise TypeError(f"data must be a MultimodalDataset, got {type(data).__name__}")
        if data.static:
            raise ValueError("adaptive forcing needs sequences; the data are static samples")
        for arg, value in (("every", every), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg} must be an int >= 1, got {value!r}")
        if window is not None and (isinstance(window, bool) or int(window) < 2):
            raise ValueError(f"window must be None or an int >= 2, got {window!r}")
        self.alpha, self.data = alpha, data
        self.every, self.batch_size = every, batch_size
        self.window = None if window is None else min(int(window), data.num_steps)
        self.seed, self.name = int(seed), str(name)
        self._initial = alpha.alpha
        self.updates: list[tuple[int, float]] = []

    def update(self, model: Any, step: int) -> float:
        """One estimate at ``step`` (seeds the window draws); returns the new alpha."""
        device = next(model.parameters()).device
        gen = torch.Generator().manual_seed(self.seed + int(step))
        batch = self.data.sample_batch(self.batch_size, window=self.window, generator=gen)
        batch = batch.to(device)
        was = model.training
        # the unforced units' random start must not move the training RNG streams
        with forked_rng(device):
            torch.manual_seed(self.seed + int(step))
            try:
                model.eval()
                with torch.no_grad():
                    states = model.teacher_states(batch)
                    value = self.alpha.update(model.dynamics, states, batch.inputs)
            finally:
                model.train(was)
        self.updates.append((int(step), value))
        logger.debug("adaptive forcing: alpha = %.4g at step %d", value, step)
        return value

    def on_fit_start(self, state: FitState) -> None:
        """Checks the model; resets alpha (a fresh fit) or restores it (a resumed fit)."""
        _check_model(state.model)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            if torch.distributed.get_world_size() > 1:
                raise RuntimeError(
                    "adaptive forcing runs in single-process fits only (the callback runs on "
                    "rank 0, and the other ranks would keep a stale alpha)"
                )
        self.updates = []
        self.alpha.alpha = self._initial
        column = f"schedule.{self.name}"
        if state.step > 0 and state.history and column in state.history[-1]:
            self.alpha.alpha = float(state.history[-1][column])
            if state.step % self.every == 0:
                self.update(state.model, state.step)

    def on_step_end(self, state: FitState) -> bool | None:
        """Updates alpha after every ``every``-th step."""
        if state.step % self.every == 0:
            self.update(state.model, state.step)
        return None


__all__ = ["AdaptiveForcingUpdate"]
