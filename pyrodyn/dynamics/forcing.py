"""Teacher forcing of a latent `DynamicsModel`: sparse identity TF and generalized TF.

* **Sparse identity teacher forcing** (Mikhaeil et al., NeurIPS 2022; Brenner et al., ICML 2024,
  specs/mtf.md section 1.5): every ``tau`` steps the first ``K`` of the ``M`` latent units are
  replaced by the teacher signal ``z̃_t``; in between the model runs freely.
  :func:`sparse_forcing_rollout` implements it sequentially and, when ``K == M`` (every window
  restarts from the teacher, so windows are independent), as a window-parallel rollout of only
  ``tau`` sequential steps over ``B·ceil(T/tau)`` windows (specs/mtf.md section 5.4). It performs
  the same floating-point operations row by row, so results are bit-identical to the sequential
  loop (as long as BLAS rounds a row the same way whatever the row count, which holds from
  about 8 rows on; for tinier batches the two agree to rounding).
* **Generalized teacher forcing** (Hess et al., ICML 2023): the forced units are mixed,
  ``z_t ← (1 − α) F(z_{t−1}) + α z̃_t``, either with a constant ``α`` or with an adaptive ``α``
  from an estimate of the growth of Jacobian norms (:class:`AdaptiveForcingAlpha`).
* :func:`suggest_forcing_interval` picks ``tau`` from the data (autocorrelation and delayed mutual
  information, specs/mtf.md section 1.6).

Conventions: the teacher is ``(B, T, K)``; the returned predictions are ``(B, T, M)`` with
``out[:, t] = ẑ_{t+1}``, the state predicted for step ``t + 1`` (1..tau steps after the last
forcing point); external inputs ``(B, T, S)`` drive the step from ``t`` to ``t + 1`` with
``inputs[:, t]``. The rollouts also take teachers with leading sample dimensions
``(..., B, T, K)`` (Pyro's vectorised particles and ``Predictive(parallel=True)``): every leading
row is an independent sequence; inputs ``(B, T, S)`` and ``init`` ``(B, M − K)`` broadcast over
the leading dimensions.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.signal import find_peaks
from torch import Tensor

from pyrodyn.dynamics.base import DynamicsModel


def check_forcing(tau: int, window: int | None, forcing_dim: int, latent_dim: int) -> None:
    """Validates a forcing interval and forced subspace, raising ``ValueError`` with the cause.

    Args:
        tau: forcing interval (``1 <= tau <= window``).
        window: sequence length T (None: not checked).
        forcing_dim: K, the number of forced units (``1 <= K <= M``).
        latent_dim: M.
    """
    if isinstance(tau, bool) or not isinstance(tau, (int, np.integer)):
        raise TypeError(f"forcing interval tau must be an int, got {tau!r}")
    if tau < 1:
        raise ValueError(f"forcing interval tau must be >= 1, got {tau}")
    if window is not None and tau > window:
        raise ValueError(
            f"forcing interval tau={tau} is larger than the window of {window} steps; use "
            f"tau <= {window} (the model would never be forced after the first step)"
        )
    if not 1 <= forcing_dim <= latent_dim:
        raise ValueError(
            f"forcing_dim K={forcing_dim} must lie in [1, latent_dim M={latent_dim}] (the forced "
            "subspace is the first K latent units)"
        )


def _initial_state(teacher: Tensor, init: Tensor | None, latent_dim: int) -> Tensor:
    b, _, k = teacher.shape
    if k == latent_dim:
        return teacher[:, 0]
    if init is None:
        # unforced units start from N(0, I), as in the reference (specs/mtf.md section 1.5)
        init = torch.randn(b, latent_dim - k, dtype=teacher.dtype, device=teacher.device)
    if init.shape != (b, latent_dim - k):
        raise ValueError(
            f"init (the unforced units) must have shape ({b}, {latent_dim - k}), got "
            f"{tuple(init.shape)}"
        )
    return torch.cat([teacher[:, 0], init], -1)


def _check_teacher(dynamics: DynamicsModel, teacher: Tensor, inputs: Tensor | None) -> None:
    if teacher.dim() < 3:
        raise ValueError(
            f"teacher must be (batch, time, K) (optionally with leading sample dims), got shape "
            f"{tuple(teacher.shape)}"
        )
    if inputs is not None and (inputs.dim() < 3 or inputs.shape[-3:-1] != teacher.shape[-3:-1]):
        raise ValueError(
            f"inputs must be (batch, time, S) = {tuple(teacher.shape[-3:-1])} + (S,), got "
            f"{tuple(inputs.shape)}"
        )


def _flatten(
    teacher: Tensor, inputs: Tensor | None, init: Tensor | None, latent_dim: int
) -> tuple[torch.Size, Tensor, Tensor | None, Tensor | None]:
    """Folds leading sample dims into the batch: ``(..., B, T, K) -> (N, T, K)``.

    Inputs and ``init`` broadcast over the leading dims. For a plain ``(B, T, K)`` teacher every
    tensor is returned unchanged, so the 3-D path is bit-identical to the unbatched one.
    """
    lead = teacher.shape[:-2]
    t, k = teacher.shape[-2:]
    if init is not None and k < latent_dim:
        want = (*lead[-1:], latent_dim - k)
        if init.dim() < 2 or tuple(init.shape[-2:]) != want:
            raise ValueError(
                f"init (the unforced units) must have shape {want}, got {tuple(init.shape)}"
            )
        init = init.expand(*lead, latent_dim - k).reshape(-1, latent_dim - k)
    if inputs is not None:
        inputs = inputs.expand(*lead, t, inputs.shape[-1]).reshape(-1, t, inputs.shape[-1])
    return lead, teacher.reshape(-1, t, k), inputs, init


def sparse_forcing_rollout(
    dynamics: DynamicsModel,
    teacher: Tensor,
    tau: int,
    *,
    init: Tensor | None = None,
    inputs: Tensor | None = None,
    parallel: bool | None = None,
) -> Tensor:
    """Sparse identity teacher forcing of the first ``K`` units every ``tau`` steps.

    For ``t = 0 .. T−1``: if ``t % tau == 0`` then ``z[:K] ← z̃_t``; ``z ← F(z, s_t)``;
    ``out[:, t] = z``. The unforced units start from ``init`` (default ``N(0, I)``) and carry
    their state across forcing points. Gradients flow into the teacher.

    Args:
        dynamics: the latent map F.
        teacher: ``(..., B, T, K)`` teacher signal z̃ (e.g. encoder samples).
        tau: forcing interval, ``1 <= tau <= T``.
        init: ``(B, M − K)`` initial unforced units (ignored when ``K == M``).
        inputs: ``(B, T, S)`` external inputs.
        parallel: use the window-parallel path (requires ``K == M``); None picks it when valid.

    Returns:
        ``(..., B, T, M)`` predictions, ``out[..., t, :]`` for step ``t + 1``.
    """
    _check_teacher(dynamics, teacher, inputs)
    t, k = teacher.shape[-2:]
    m = dynamics.latent_dim
    check_forcing(tau, t, k, m)
    if parallel is None:
        parallel = k == m
    if parallel and k != m:
        raise ValueError(
            f"the window-parallel rollout needs K == M (all units forced); got K={k}, M={m}"
        )
    lead, teacher, inputs, init = _flatten(teacher, inputs, init, m)
    if parallel:
        return _window_parallel(dynamics, teacher, tau, inputs).reshape(*lead, t, m)
    z = _initial_state(teacher, init, m)
    out = []
    for step in range(t):
        if step % tau == 0 and step > 0:
            z = torch.cat([teacher[:, step], z[:, k:]], -1) if k < m else teacher[:, step]
        z = dynamics.step(z, None if inputs is None else inputs[:, step])
        out.append(z)
    return torch.stack(out, 1).reshape(*lead, t, m)


def _window_parallel(
    dynamics: DynamicsModel, teacher: Tensor, tau: int, inputs: Tensor | None
) -> Tensor:
    b, t, m = teacher.shape
    n_win = math.ceil(t / tau)
    z = teacher[:, ::tau].reshape(b * n_win, m)
    u = None
    if inputs is not None:
        pad = n_win * tau - t
        if pad:
            inputs = torch.cat([inputs, inputs.new_zeros(b, pad, inputs.shape[-1])], 1)
        u = inputs.reshape(b * n_win, tau, inputs.shape[-1])
    out = []
    for j in range(tau):
        z = dynamics.step(z, None if u is None else u[:, j])
        out.append(z)
    return torch.stack(out, 1).reshape(b, n_win * tau, m)[:, :t]


def generalized_forcing_rollout(
    dynamics: DynamicsModel,
    teacher: Tensor,
    alpha: float | Tensor,
    *,
    tau: int = 1,
    init: Tensor | None = None,
    inputs: Tensor | None = None,
) -> Tensor:
    """Generalized teacher forcing (Hess et al. 2023) of the first ``K`` units.

    ``z_0 = (z̃_0, init)``; for ``t = 0 .. T−1``: ``z ← F(z, s_t)``; ``out[:, t] = z``; then, if
    ``(t + 1) % tau == 0``, ``z[:K] ← (1 − α) z[:K] + α z̃_{t+1}``. With ``α = 1`` this is sparse
    identity forcing; with ``α = 0`` a free run from ``z̃_0``.

    Args:
        dynamics: the latent map F.
        teacher: ``(..., B, T, K)``.
        alpha: forcing strength in ``[0, 1]``: a float, or a tensor broadcastable to ``(B, K)``.
        tau: mixing interval (1: every step, as in GTF).
        init: ``(B, M − K)`` initial unforced units (default ``N(0, I)``).
        inputs: ``(B, T, S)``.

    Returns:
        ``(..., B, T, M)`` predictions ``F(z_t)`` (before mixing).
    """
    _check_teacher(dynamics, teacher, inputs)
    t, k = teacher.shape[-2:]
    m = dynamics.latent_dim
    check_forcing(tau, t, k, m)
    a = torch.as_tensor(alpha, dtype=teacher.dtype, device=teacher.device)
    if bool(((a < 0) | (a > 1)).any()):
        raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")
    lead, teacher, inputs, init = _flatten(teacher, inputs, init, m)
    if a.dim() > 0:
        # a per-sequence alpha (B, K) broadcasts over the leading sample dims
        a = a.expand(*lead, k).reshape(-1, k) if a.dim() == 2 else a
    z = _initial_state(teacher, init, m)
    out = []
    for step in range(t):
        z = dynamics.step(z, None if inputs is None else inputs[:, step])
        out.append(z)
        if (step + 1) % tau == 0 and step + 1 < t:
            forced = (1 - a) * z[:, :k] + a * teacher[:, step + 1]
            z = torch.cat([forced, z[:, k:]], -1) if k < m else forced
    return torch.stack(out, 1).reshape(*lead, t, m)


def jacobian_growth(
    dynamics: DynamicsModel, states: Tensor, inputs: Tensor | None = None
) -> Tensor:
    """The ``product_upper_bound`` estimate G of Jacobian-norm growth (Hess et al. 2023).

    The geometric mean of the spectral norms ``‖J(z_t)‖₂`` along each sequence, maximised over
    the batch.

    Args:
        dynamics: the latent map.
        states: ``(B, T, M)`` states along training sequences.
        inputs: ``(B, T, S)`` inputs.

    Returns:
        Scalar tensor G > 0.
    """
    with torch.no_grad():
        jac = dynamics.jacobian(states, inputs)
        norms = torch.linalg.matrix_norm(jac, ord=2).clamp_min(1e-12)
        return norms.log().mean(-1).exp().max()


class AdaptiveForcingAlpha:
    """Adaptive GTF strength ``α = max(0, 1 − 1/G)`` from :func:`jacobian_growth`.

    Between updates α decays geometrically (``α ← max(α_est, γ·α)``), so it never falls below
    the value that bounds the gradient growth and relaxes slowly otherwise.

    Args:
        gamma: decay factor per update in ``(0, 1]``.
        initial: starting α in ``[0, 1]``.
    """

    def __init__(self, gamma: float = 0.999, initial: float = 1.0) -> None:
        if not 0 < gamma <= 1:
            raise ValueError(f"gamma must lie in (0, 1], got {gamma}")
        if not 0 <= initial <= 1:
            raise ValueError(f"initial alpha must lie in [0, 1], got {initial}")
        self.gamma = float(gamma)
        self.alpha = float(initial)

    @staticmethod
    def estimate(growth: Tensor | float) -> float:
        """``max(0, 1 − 1/G)``."""
        g = float(growth)
        return max(0.0, 1.0 - 1.0 / g) if g > 0 else 0.0

    def update(
        self, dynamics: DynamicsModel, states: Tensor, inputs: Tensor | None = None
    ) -> float:
        """Re-estimates α from states ``(B, T, M)`` and returns it."""
        est = self.estimate(jacobian_growth(dynamics, states, inputs))
        self.alpha = max(est, self.gamma * self.alpha)
        return self.alpha

    def __call__(self, step: int) -> float:
        """The current α (usable as a ``fit`` schedule)."""
        return self.alpha


def _acf(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Autocorrelation ``(max_lag + 1,)`` of one trial ``(T,)`` that may contain NaN."""
    ok = np.isfinite(x)
    xc = np.where(ok, x - np.nanmean(x), 0.0)
    w = ok.astype(float)
    num = np.array([np.dot(xc[: len(x) - k], xc[k:]) for k in range(max_lag + 1)])
    cnt = np.array([np.dot(w[: len(x) - k], w[k:]) for k in range(max_lag + 1)])
    return num / np.maximum(cnt, 1.0)


def _delayed_mi(x: np.ndarray, max_lag: int, bins: int) -> np.ndarray:
    """Delayed mutual information ``(max_lag + 1,)`` of ``(T,)`` from ``bins`` histograms."""
    ok = np.isfinite(x)
    lo, hi = np.nanmin(x), np.nanmax(x)
    # equal-width bins over [lo, hi] (the maximum joins the last bin, as in np.histogram); no
    # absolute epsilon in the width, which would make the estimate depend on the data's units
    scale = bins / (hi - lo) if hi > lo else 0.0
    scaled = np.where(ok, (x - lo) * scale, 0.0)
    codes = np.clip(scaled.astype(np.int64), 0, bins - 1)
    mi = np.full(max_lag + 1, np.nan)
    for k in range(max_lag + 1):
        a, b = codes[: len(x) - k], codes[k:]
        keep = ok[: len(x) - k] & ok[k:]
        if keep.sum() < 2:
            continue
        joint = np.bincount(a[keep] * bins + b[keep], minlength=bins * bins).reshape(bins, bins)
        p = joint / joint.sum()
        pa, pb = p.sum(1, keepdims=True), p.sum(0, keepdims=True)
        nz = p > 0
        mi[k] = float((p[nz] * np.log(p[nz] / (pa @ pb)[nz])).sum())
    return mi


def _mean_over_trials(curves: np.ndarray) -> np.ndarray:
    """Mean over axis 0 of the finite entries; NaN where a lag has none (no empty-slice warning)."""
    ok = np.isfinite(curves)
    count = ok.sum(0)
    total = np.where(ok, curves, 0.0).sum(0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _first_local_min(curve: np.ndarray, rel_prominence: float = 0.02) -> int | None:
    """First local minimum whose prominence exceeds ``rel_prominence`` of the curve's range.

    The prominence threshold makes the rule robust to estimation noise (histogram MI wiggles,
    missing entries), which otherwise produces spurious early minima.
    """
    c = np.asarray(curve, dtype=np.float64)
    if not np.isfinite(c).any():
        return None
    c = np.where(np.isfinite(c), c, np.nanmax(c))
    span = float(c.max() - c.min())
    if span <= 0:
        return None
    idx, _ = find_peaks(-c, prominence=rel_prominence * span)
    return int(idx[0]) if idx.size else None


def suggest_forcing_interval(x: np.ndarray | Tensor, *, max_lag: int = 100, bins: int = 64) -> int:
    """Suggests a forcing interval tau from data (specs/mtf.md section 1.6).

    Per channel: ``τ_ACF`` is the smaller of the first local minimum of the autocorrelation and
    the first lag where it falls below ``1/e``; ``τ_MI`` is the first local minimum of the
    delayed mutual information (``bins`` bins). Only minima with a prominence of at least 2% of
    the curve's range count (robust to estimation noise). The channel's value is
    ``min(τ_ACF, τ_MI)`` (``max_lag`` when neither has a minimum); the result is the median over
    channels. Curves are averaged over trials; NaN (missing) entries are ignored and constant
    channels skipped.

    Args:
        x: ``(T,)``, ``(T, N)`` or ``(trials, T, N)``.
        max_lag: largest lag considered (reduced to ``T // 2`` for short series).
        bins: histogram bins for the mutual information.

    Returns:
        tau >= 1.

    Raises:
        ValueError: no channel has two distinct finite values, or the series is too short.
    """
    arr = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
    arr = arr.astype(np.float64)
    if arr.ndim == 1:
        arr = arr[None, :, None]
    elif arr.ndim == 2:
        arr = arr[None]
    elif arr.ndim != 3:
        raise ValueError(f"x must be (T,), (T, N) or (trials, T, N), got shape {arr.shape}")
    if max_lag < 2 or bins < 2:
        raise ValueError(f"max_lag and bins must be >= 2, got {max_lag} and {bins}")
    n_steps = arr.shape[1]
    lag = min(int(max_lag), n_steps // 2)
    if lag < 2:
        raise ValueError(f"series of {n_steps} steps is too short to suggest a forcing interval")
    taus = []
    for ch in range(arr.shape[2]):
        series = [arr[i, :, ch] for i in range(arr.shape[0])]
        series = [s for s in series if np.isfinite(s).sum() > lag and np.nanstd(s) > 0]
        if not series:
            continue
        acf = np.mean([_acf(s, lag) for s in series], 0)
        acf = acf / acf[0]
        mi = _mean_over_trials(np.array([_delayed_mi(s, lag, bins) for s in series]))
        cands = []
        k_min = _first_local_min(acf)
        below = np.nonzero(acf < 1 / math.e)[0]
        for k in (k_min, int(below[0]) if below.size else None, _first_local_min(mi)):
            if k is not None:
                cands.append(k)
        taus.append(min(cands) if cands else lag)
    if not taus:
        raise ValueError(
            "cannot suggest a forcing interval: no channel has enough finite, non-constant values"
        )
    return max(1, round(float(np.median(taus))))
