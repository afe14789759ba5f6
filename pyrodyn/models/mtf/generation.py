"""Free runs and n-step forecasts of a teacher-forced latent dynamics model (MTF, BPTT-TF).

Functions of the model's parts (encoder mean, ``dynamics``, ``forcing_dim``, decoders through
``model.predict``); the models' ``generate`` / ``forecast`` call them. Neither ever adds input
noise or replays data beyond the initial state.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.dynamics.forcing import sparse_forcing_rollout


def initial_states(model: Any, init: MultimodalBatch | None, num_trials: int) -> Tensor:
    """``(trials, M)``: encoder means at the first step of ``init`` (cycled), N(0, 1) elsewhere."""
    m, k = model.dynamics.latent_dim, model.forcing_dim
    p = model.log_latent_scale
    z0 = torch.randn(num_trials, m, dtype=p.dtype, device=p.device)
    if init is not None:
        loc = model.encode(init)["latent"][:, 0]
        rows = torch.arange(num_trials, device=loc.device) % loc.shape[0]
        z0[:, :k] = loc[rows]
    return z0


def free_run(
    model: Any,
    num_steps: int,
    *,
    init: MultimodalBatch | None,
    num_trials: int,
    burn_in: int,
    prediction: str,
    inputs: Tensor | None,
) -> dict[str, Tensor]:
    """The body of ``MTF.generate`` (see there)."""
    if num_steps < 1 or burn_in < 0 or num_trials < 1:
        raise ValueError(
            f"need num_steps >= 1, burn_in >= 0, num_trials >= 1; got {num_steps}, "
            f"{burn_in}, {num_trials}"
        )
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            z = initial_states(model, init, num_trials)
            states = [z]
            for step in range(burn_in + num_steps - 1):
                z = model.dynamics.step(z, None if inputs is None else inputs[:, step])
                states.append(z)
            latent = torch.stack(states, 1)[:, burn_in:]
            out = dict(model.predict(latent, prediction))
            out["latent"] = latent
            return out
    finally:
        model.train(was)


def teacher_states(model: Any, batch: MultimodalBatch) -> Tensor:
    """Latent states ``(B, T, M)`` along the teacher-forced trajectory of a batch.

    The forced units are the encoder's posterior means; the unforced units (``K < M``) start
    from N(0, 1) (the global RNG) and are carried by a rollout forced at every step, so that
    ``states[:, t + 1, K:]`` is the map's image of ``states[:, t]``. Evaluated
    in eval mode without gradients (no input noise); the model's mode is restored.
    """
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            loc = model.encode(batch)["latent"]
            b, _, k = loc.shape
            m = model.dynamics.latent_dim
            if k == m:
                return loc
            first = torch.randn(b, 1, m - k, dtype=loc.dtype, device=loc.device)
            carried = sparse_forcing_rollout(
                model.dynamics, loc, 1, init=first[:, 0], inputs=batch.inputs, parallel=False
            )
            rest = torch.cat([first, carried[:, :-1, k:]], 1)
            return torch.cat([loc, rest], -1)
    finally:
        model.train(was)


def forecast_ahead(model: Any, batch: MultimodalBatch, horizon: int) -> dict[str, Tensor]:
    """The body of ``MTF.forecast`` (see there)."""
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            start = teacher_states(model, batch)
            b, t, m = start.shape
            z = start.reshape(b * t, m)
            preds = []
            for h in range(horizon):
                u = None
                if batch.inputs is not None:
                    idx = (torch.arange(t, device=start.device) + h).clamp_max(t - 1)
                    u = batch.inputs[:, idx].reshape(b * t, -1)
                z = model.dynamics.step(z, u)
                preds.append(z)
            traj = torch.stack(preds, 1).reshape(b, t, horizon, m)
            return dict(model.predict(traj))
    finally:
        model.train(was)


__all__ = ["forecast_ahead", "free_run", "initial_states", "teacher_states"]
