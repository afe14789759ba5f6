"""Choosing among ridge fits on different random hidden layers by their free runs.

Reservoir computing draws a reservoir at random and keeps the one whose trained read-out, run
freely, reproduces the training signal best (Lukoševičius, "A practical guide to applying echo
state networks", 2012). :func:`best_draw` does the same for the ridge-fitted shallow PLRNN of
:class:`~pyrodyn.models.mtf.ridge_init.RidgeInit`: a fit's one-step error says little about its
long-term behaviour, its free run's state-space and spectral statistics do. The draws' free runs
are one batched rollout (``torch.func.vmap`` over their stacked weights), so a wide search costs
little more than one run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.func import functional_call, vmap

from pyrodyn.dynamics.base import DynamicsModel

#: ``score(x_true, x_gen) -> float`` of two ``(T, n)`` trajectories, lower is better (the app
#: passes D_stsp + D_H; the models layer does not import the metrics).
Score = Callable[[np.ndarray, np.ndarray], float]

#: Transient steps of each scored free run.
BURN_IN = 1000


def free_runs(
    dynamics: DynamicsModel, states: Sequence[dict[str, Tensor]], start: Tensor, steps: int
) -> Tensor:
    """The noise-free runs of ``dynamics`` under each of ``states`` (its state dicts).

    Args:
        dynamics: the module whose ``step`` is run (its own weights are not used).
        states: K state dicts of ``dynamics``.
        start: ``(M,)`` first state of every run.
        steps: steps kept after a burn-in of :data:`BURN_IN`.

    Returns:
        ``(K, steps, M)`` float64 on the CPU.
    """
    stacked = {f"map.{k}": torch.stack([s[k] for s in states]) for k in states[0]}
    p = next(dynamics.parameters())
    z = start.to(dtype=p.dtype, device=p.device).expand(len(states), -1).clone()
    module = _Step(dynamics)
    step = vmap(lambda weights, state: functional_call(module, weights, (state,), strict=True))
    out = torch.empty(len(states), steps, z.shape[-1], dtype=torch.float64)
    with torch.no_grad():
        for t in range(BURN_IN + steps):
            z = step(stacked, z)
            if t >= BURN_IN:
                out[:, t - BURN_IN] = z.to("cpu", torch.float64)
    return out


class _Step(torch.nn.Module):
    """``forward`` is the map's noise-free ``step`` (what ``functional_call`` runs)."""

    def __init__(self, dynamics: DynamicsModel) -> None:
        super().__init__()
        self.map = dynamics

    def forward(self, z: Tensor) -> Tensor:
        return self.map.step(z)


def run_score(
    gen: Tensor, target: Tensor, residual: Tensor, generator: torch.Generator, score: Score
) -> float:
    """``score`` of one run ``(T, >= n)`` against ``target`` ``(T, n)``.

    The run's first ``n`` units plus Gaussian noise of sd ``residual`` ``(n,)`` (the fit's
    one-step error, so that a run is compared with a recording as noisy as the one it was fitted
    on) are compared with ``target``. A run that leaves the finite numbers, or a non-finite
    score, gives ``inf``.
    """
    n = residual.shape[0]
    run = gen[:, :n]
    if not torch.isfinite(run).all():
        return math.inf
    noise = torch.randn(run.shape, generator=generator, dtype=torch.float64)
    run = run + residual.to(torch.float64) * noise
    value = float(score(target.numpy(), run.numpy()))
    return value if np.isfinite(value) else math.inf


def best_draw(
    dynamics: DynamicsModel,
    fit: Callable[[], Tensor],
    start: Tensor,
    target: Tensor,
    draws: int,
    steps: int,
    generator: torch.Generator,
    score: Score,
) -> tuple[Tensor, list[float]]:
    """Runs ``fit`` ``draws`` times and leaves ``dynamics`` with the best-scoring fit.

    Args:
        dynamics: the map ``fit`` sets in place.
        fit: draws a hidden layer and fits it; returns the ``(n,)`` one-step residual sd.
        start: ``(M,)`` first state of every scored run.
        target: ``(T, n)`` the recording the runs are scored against (its last ``steps`` rows).
        draws: number of fits (>= 1).
        steps: scored steps (at most ``T``).
        generator: random source of the scoring noise (the fits draw from their own).
        score: ``score(x_true, x_gen)`` of two ``(T, n)`` arrays, lower is better.

    Returns:
        The kept fit's residual sd and every draw's score, in order (the first of equal scores
        is kept).
    """
    states, residuals = [], []
    for _ in range(draws):
        residuals.append(fit())
        states.append({k: v.detach().clone() for k, v in dynamics.state_dict().items()})
    target = target[-steps:]
    runs = free_runs(dynamics, states, start, target.shape[0])
    scores = [run_score(run, target, r, generator, score) for run, r in zip(runs, residuals)]
    best = int(np.argmin(scores))
    dynamics.load_state_dict(states[best])
    return residuals[best], scores


__all__ = ["BURN_IN", "Score", "best_draw", "free_runs", "run_score"]
