"""Leave-future-out cross-validation (PSIS-LFO) of a dynamical model's predictions.

Bürkner, Gabry and Vehtari, "Approximate leave-future-out cross-validation for Bayesian time
series models", Journal of Statistical Computation and Simulation 90(14), 2020. For a sequence
``y_1..y_T`` and an origin ``i`` (a prefix length), the ``h``-step-ahead predictive accuracy is

``elpd_i = log p(y_{i+1:i+h} | y_{1:i})``.

Here the latents play the part of the paper's parameters, and a "fit" on the prefix ``y_{1:a}``
is the guide encoding it. Sequences are cut at ``n = i + h`` steps, so every density below is
over ``z_{1:n}``. The latents of the steps after ``a`` are drawn in one of two ways
(``future_latents``):

* ``"prior"`` (where every latent site's prior implements
  :meth:`~pyrodyn.priors.base.LatentPrior.continuation`, e.g. a Markov dynamical prior): the
  guide encodes ``y_{1:a}`` alone and the draws ``z_{1:a} ~ q`` are continued by the prior,
  ``z_{a+1:n} ~ p(z_{a+1:n} | z_{1:a})``. The continuation cancels in the ratios, which are
  ``log r_s = log p(z_{1:a}) + sum_{t <= i} log p(y_t | z_s) - log q(z_{1:a} | y_{1:a})``, the
  paper's construction with the model's own forecast of the latent future;
* ``"guide"`` (any model): the guide is shown ``y_{1:n}`` with every step after ``a`` missing
  (the package's missing-data convention) and draws the whole ``z_{1:n}``; the ratios are
  ``log r_s = log p(z_s) + sum_{t <= i} log p(y_t | z_s) - log q(z_s | y_{1:a})``. This relies
  on the guide's forecast of latents it is not shown, which an encoder trained on complete data
  may do poorly (k-hat then says so).

The ratios are Pareto-smoothed by :func:`~pyrodyn.diagnostics.psis.psis` into normalised
weights ``w_s``, and ``elpd_i = log sum_s w_s p(y_{i+1:i+h} | z_s)``. For ``a = i`` (a fit on
the origin's own prefix) this is importance sampling of the predictive with the guide as
proposal; for ``a < i`` it reuses the last fit for the newly observed steps ``a+1..i``, as
PSIS-LFO reuses the posterior of the last refit. When the k-hat of the ratios exceeds the
threshold (0.7), the origin is "refitted": the guide re-encodes the longer prefix ``y_{1:i}``
with the model's parameters fixed (amortised inference makes that one encoder pass), and later
origins reuse that fit. The reported k-hat is that of the ratios the origin's elpd was computed
with; one above the threshold after a refit means the guide itself is a poor proposal there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.diagnostics.lfo_ratios import continuation_priors, origin_ratios, prefix
from pyrodyn.diagnostics.particles import draws_dim
from pyrodyn.diagnostics.psis import KHAT_THRESHOLD, psis
from pyrodyn.models.base import GenerativeModel
from pyrodyn.models.params import local_params

#: Fewest draws per origin: a k-hat needs a Pareto tail of at least 5 of them.
MIN_DRAWS: int = 25


@dataclass
class LFOResult:
    """Leave-future-out elpd per sequence and origin (arrays ``(B, n)``).

    Attributes:
        origins: ``(n,)`` prefix lengths ``i``; origin ``i`` predicts steps ``i+1..i+h``
            (1-based; the 0-based steps ``i..i+h-1``).
        horizon: h.
        elpd: ``log p(y_{i+1:i+h} | y_{1:i})`` (observed entries only).
        khat: PSIS k-hat of the ratios the elpd was computed with (``inf``: constant ratios,
            i.e. the guide is the exact posterior up to rounding).
        refit: whether the guide was (re-)encoded on the origin's own prefix (always True at
            the first origin).
        anchor: the prefix length ``a`` of the fit the origin used (``a = i`` where refitted).
        num_draws: S, draws per origin.
        threshold: the k-hat above which an origin is refitted.
        future_latents: how the latents after each fit's prefix were drawn, ``"prior"`` or
            ``"guide"`` (see the module docstring).
        trial: ``(B,)`` index of each sequence in its source data (None: unknown).
    """

    origins: np.ndarray
    horizon: int
    elpd: np.ndarray
    khat: np.ndarray
    refit: np.ndarray
    anchor: np.ndarray
    num_draws: int
    threshold: float
    future_latents: str = "guide"
    trial: np.ndarray | None = None

    @property
    def total(self) -> float:
        """Sum of the elpd over sequences and origins."""
        return float(self.elpd.sum())

    @property
    def num_unreliable(self) -> int:
        """Origins whose final ratios still have k-hat above the threshold (constant excluded)."""
        return int((np.isfinite(self.khat) & (self.khat > self.threshold)).sum())

    def summary(self) -> dict:
        """Plain-data summary (for ``diagnostics.json``)."""
        return {
            "horizon": int(self.horizon),
            "num_draws": int(self.num_draws),
            "khat_threshold": float(self.threshold),
            "future_latents": self.future_latents,
            "origins": self.origins.tolist(),
            "elpd": self.total,
            "elpd_per_origin": self.elpd.sum(0).tolist(),
            "num_refits": int(self.refit.sum()),
            "num_khat_above_threshold": self.num_unreliable,
            "khat_max": float(np.max(np.where(np.isfinite(self.khat), self.khat, -np.inf))),
        }


def default_origins(num_steps: int, horizon: int, num_origins: int = 20) -> np.ndarray:
    """``num_origins`` prefix lengths evenly spaced over the second half of the sequence.

    From ``max(1, T // 2)`` to ``T - h`` (all of them when there are fewer).
    """
    last = num_steps - horizon
    if last < 1:
        raise ValueError(
            f"sequences of {num_steps} steps leave no origin for h = {horizon} steps ahead "
            "(origins i need 1 <= i <= T - h)"
        )
    first = min(max(1, num_steps // 2), last)
    count = min(int(num_origins), last - first + 1)
    return np.unique(np.linspace(first, last, count).round().astype(np.int64))


def _check(model: GenerativeModel, batch: MultimodalBatch, horizon: int, num_draws: int) -> int:
    """Validates the arguments; returns the shortest valid length T."""
    if not isinstance(model, GenerativeModel):
        raise TypeError(f"LFO needs a GenerativeModel, got {type(model).__name__}")
    if not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"horizon (h) must be an integer >= 1, got {horizon!r}")
    if not isinstance(num_draws, (int, np.integer)) or num_draws < MIN_DRAWS:
        raise ValueError(
            f"num_draws must be an integer >= {MIN_DRAWS} for PSIS: k-hat is fitted to the "
            f"largest ceil(min(0.2 S, 3 sqrt(S))) ratios and needs at least 5 of them; got "
            f"{num_draws!r}"
        )
    model.check_batch(batch)
    if batch.static:
        raise ValueError("leave-future-out CV needs sequences; the batch holds static samples")
    return int(batch.valid_steps().sum(-1).min())


def _logsumexp(x: np.ndarray) -> np.ndarray:
    mx = x.max(-1, keepdims=True)
    return mx[..., 0] + np.log(np.exp(x - mx).sum(-1))


@torch.no_grad()
def lfo(
    model: GenerativeModel,
    batch: MultimodalBatch,
    horizon: int = 1,
    origins: list[int] | np.ndarray | None = None,
    *,
    num_origins: int = 20,
    num_draws: int = 100,
    threshold: float = KHAT_THRESHOLD,
    future_latents: str = "auto",
    seed: int = 0,
) -> LFOResult:
    """PSIS leave-future-out elpd of ``h``-step-ahead predictions (see the module docstring).

    Args:
        model: a fitted model with a guide (its parameters stay fixed).
        batch: held-out sequences (e.g. the validation tail the run kept out of training, or
            windows of it), in the model's units.
        horizon: h >= 1 steps predicted jointly from each origin.
        origins: prefix lengths ``i`` with ``1 <= i <= T - h`` (T: the shortest valid length);
            default :func:`default_origins` with ``num_origins``.
        num_origins: how many default origins (>= 20 recommended).
        num_draws: S >= 25 guide draws per origin (vectorised).
        threshold: k-hat above which an origin is refitted.
        future_latents: ``"prior"`` (continue each fit's draws with the prior), ``"guide"``
            (the guide draws them, shown the future as missing) or ``"auto"`` (the prior's
            where every latent site's prior has a continuation); see the module docstring.
        seed: seeds the draws (the global random state is restored afterwards).

    Returns:
        elpd, k-hat, refit flags and anchors per sequence and origin, and their total.

    Raises:
        ValueError: h < 1, fewer than 25 draws, origins outside ``[1, T - h]``, static data,
            an unknown ``future_latents`` or ``"prior"`` for a model whose priors have no
            continuation.
    """
    length = _check(model, batch, horizon, num_draws)
    if future_latents not in ("auto", "prior", "guide"):
        raise ValueError(
            f"future_latents must be 'auto', 'prior' or 'guide', got {future_latents!r}"
        )
    h, s = int(horizon), int(num_draws)
    if origins is None:
        if int(num_origins) < 1:
            raise ValueError(f"num_origins must be >= 1, got {num_origins!r}")
        points = default_origins(length, h, int(num_origins))
    else:
        points = np.unique(np.asarray(origins, dtype=np.int64).reshape(-1))
        bad = points[(points < 1) | (points > length - h)]
        if points.size == 0 or bad.size:
            raise ValueError(
                f"origins must be prefix lengths i with 1 <= i <= T - h = {length - h} "
                f"(T = {length} valid steps, h = {h}); got {bad.tolist() or 'none'}"
            )
    b = batch.num_sequences
    shape = (b, points.size)
    elpd, khat = np.empty(shape), np.empty(shape)
    refit, anchors = np.zeros(shape, dtype=bool), np.zeros(shape, dtype=np.int64)
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]), local_params(model):
            torch.manual_seed(int(seed))
            probe = prefix(batch, int(points[0]) + h)
            dim = draws_dim(model, probe, replay=True)
            priors = None if future_latents == "guide" else continuation_priors(model, probe)
            if isinstance(priors, str):
                if future_latents == "prior":
                    raise ValueError(f"future_latents='prior' does not apply: {priors}")
                priors = None
            anchor = torch.full((b,), int(points[0]), dtype=torch.long)
            for j, i in enumerate(points.tolist()):
                ratios, future, constant = origin_ratios(model, batch, i, h, anchor, s, dim, priors)
                lw, k = psis(ratios)
                fresh = anchor == i
                redo = (k > threshold) & ~constant & ~fresh.numpy()
                if redo.any():
                    rows = torch.as_tensor(np.flatnonzero(redo))
                    anchor[rows] = i
                    r2, f2, c2 = origin_ratios(
                        model, batch[rows], i, h, anchor[rows], s, dim, priors
                    )
                    lw2, k2 = psis(r2)
                    lw[redo], k[redo], future[redo], constant[redo] = lw2, k2, f2, c2
                elpd[:, j] = _logsumexp(lw + future)
                khat[:, j] = np.where(constant, math.inf, k)
                refit[:, j] = (anchor == i).numpy()
                anchors[:, j] = anchor.numpy()
    finally:
        model.train(was_training)
    trial = None if batch.index is None else batch.index.detach().cpu().numpy()
    mode = "guide" if priors is None else "prior"
    return LFOResult(points, h, elpd, khat, refit, anchors, s, float(threshold), mode, trial)


__all__ = ["MIN_DRAWS", "LFOResult", "default_origins", "lfo"]
