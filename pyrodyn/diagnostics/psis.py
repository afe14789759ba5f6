"""Pareto-smoothed importance sampling (PSIS) and its k-hat diagnostic, from ArviZ.

PSIS (Vehtari, Simpson, Gelman, Yao and Gabry, "Pareto Smoothed Importance Sampling", JMLR 2024)
replaces the largest ``M = ceil(min(0.2 S, 3 sqrt(S)))`` importance ratios by expected order
statistics of a generalized Pareto distribution fitted to them; the fitted shape ``k`` is the
diagnostic. Yao, Vehtari, Simpson and Gelman, "Yes, but did it work?: Evaluating variational
inference" (ICML 2018) use the same k-hat on the ratios ``p(x, z) / q(z)`` to judge a variational
approximation: ``k < 0.5`` good, ``0.5 <= k < 0.7`` usable, ``k >= 0.7`` unreliable.

The smoothing itself is ArviZ's ``az.psislw`` (through
:func:`pyrodyn.diagnostics.arviz_adapter.psislw`), so k-hat here is the k-hat ArviZ reports. This
module adds pyrodyn's conventions around it: checked inputs, constant ratios (an exact guide)
reported as ``inf`` without a tail fit, and the Kish effective sample size.
"""

from __future__ import annotations

import math

import numpy as np

from pyrodyn.diagnostics import arviz_adapter

#: Ratios with k-hat above this are flagged as unreliable (Yao et al. 2018).
KHAT_THRESHOLD: float = 0.7

#: Log ratios whose spread is below this (relative to their magnitude) count as constant: the
#: proposal equals the target up to rounding, importance sampling is exact and there is no tail
#: to fit (k-hat is reported as ``inf``, as for exactly constant ratios).
CONSTANT_RTOL: float = 1e-6


def tail_length(num_samples: int) -> int:
    """Number of largest ratios the Pareto tail is fitted to: ``ceil(min(0.2 S, 3 sqrt(S)))``."""
    return math.ceil(min(0.2 * num_samples, 3.0 * math.sqrt(num_samples)))


def _constant_rows(lr: np.ndarray) -> np.ndarray:
    """Rows of ``(N, S)`` log ratios that are finite and equal up to :data:`CONSTANT_RTOL`."""
    finite = np.isfinite(lr).all(axis=1)
    safe = np.where(np.isfinite(lr), lr, 0.0)
    scale = np.maximum(1.0, np.abs(safe).max(axis=1))
    return finite & (safe.max(axis=1) - safe.min(axis=1) <= CONSTANT_RTOL * scale)


def psis(log_ratios: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pareto-smoothed, self-normalised log weights and k-hat, along the last axis.

    Args:
        log_ratios: ``(..., S)`` log importance ratios (e.g. ``log p(x, z_s) - log q(z_s)``).

    Returns:
        ``(log_weights, khat)``: ``(..., S)`` smoothed log weights that log-sum-exp to 0, and
        ``(...)`` k-hat. k-hat is ``inf`` when the tail cannot be fitted (fewer than 5 tail
        draws, or constant ratios, e.g. a guide equal to the exact posterior; see
        :data:`CONSTANT_RTOL`).

    Raises:
        ValueError: for fewer than 2 draws, ratios that are NaN or ``+inf``, or a row whose
            ratios are all ``-inf`` (no draw has positive weight).
    """
    lr = np.asarray(log_ratios, dtype=np.float64)
    if lr.ndim < 1 or lr.shape[-1] < 2:
        raise ValueError(f"psis needs at least 2 draws on the last axis, got shape {lr.shape}")
    if np.isnan(lr).any() or np.isposinf(lr).any():
        raise ValueError("log_ratios contain NaN or +inf; importance ratios must be finite")
    s = lr.shape[-1]
    flat = lr.reshape(-1, s)
    if np.isneginf(flat).all(axis=1).any():
        raise ValueError(
            "a row of log_ratios is all -inf: no draw has positive importance weight "
            "(the target gives zero density to every draw)"
        )
    out = np.full(flat.shape, -math.log(s))
    khat = np.full(flat.shape[0], math.inf)
    fit = ~_constant_rows(flat)
    if fit.any():
        out[fit], khat[fit] = arviz_adapter.psislw(flat[fit])
    return out.reshape(lr.shape), khat.reshape(lr.shape[:-1])


def effective_sample_size(log_weights: np.ndarray) -> np.ndarray:
    """Kish effective sample size ``(sum w)^2 / sum w^2`` along the last axis.

    Args:
        log_weights: ``(..., S)`` (unnormalised) log weights.

    Returns:
        ``(...)`` effective sample sizes in ``[1, S]``.
    """
    lw = np.asarray(log_weights, dtype=np.float64)
    lw = lw - lw.max(axis=-1, keepdims=True)
    w = np.exp(lw)
    return w.sum(-1) ** 2 / (w**2).sum(-1)
