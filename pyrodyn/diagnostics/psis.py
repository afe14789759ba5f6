"""Pareto-smoothed importance sampling (PSIS) and its k-hat diagnostic, in numpy.

Implements the method of Vehtari, Simpson, Gelman, Yao and Gabry, "Pareto Smoothed Importance
Sampling" (JMLR 2024): the largest ``M = ceil(min(0.2 S, 3 sqrt(S)))`` importance ratios are
replaced by expected order statistics of a generalized Pareto distribution (GPD) fitted to them,
and the fitted shape ``k`` is the diagnostic. Yao, Vehtari, Simpson and Gelman, "Yes, but did it
work?: Evaluating variational inference" (ICML 2018) use the same k-hat on the ratios
``p(x, z) / q(z)`` to judge a variational approximation: ``k < 0.5`` good, ``0.5 <= k < 0.7``
usable, ``k >= 0.7`` unreliable.

The GPD is fitted with the empirical-Bayes estimator of Zhang and Stephens, "A new and efficient
estimation method for the generalized Pareto distribution" (Technometrics 2009), and the shape is
shrunk towards 0.5 with a weak prior of 10 pseudo-observations (Vehtari et al. 2024, appendix).
"""

from __future__ import annotations

import math

import numpy as np

#: Ratios with k-hat above this are flagged as unreliable (Yao et al. 2018).
KHAT_THRESHOLD: float = 0.7

#: Log ratios whose spread is below this (relative to their magnitude) count as constant: the
#: proposal equals the target up to rounding, importance sampling is exact and there is no tail
#: to fit (k-hat is reported as ``inf``, as for exactly constant ratios).
CONSTANT_RTOL: float = 1e-6


def tail_length(num_samples: int) -> int:
    """Number of largest ratios the GPD is fitted to: ``ceil(min(0.2 S, 3 sqrt(S)))``."""
    return math.ceil(min(0.2 * num_samples, 3.0 * math.sqrt(num_samples)))


def fit_generalized_pareto(x: np.ndarray, prior_weight: float = 10.0) -> tuple[float, float]:
    """Fits a GPD with location 0 to positive exceedances (Zhang and Stephens 2009).

    The shape ``k`` is profiled out for each value of ``b = -k / sigma`` on a grid of prior
    quantiles; ``b`` is the posterior mean of the profile likelihood over that grid.

    Args:
        x: exceedances ``(n,)``, ascending and positive.
        prior_weight: pseudo-observations shrinking ``k`` towards 0.5 (0 turns shrinkage off).

    Returns:
        ``(k, sigma)``: shape and scale.
    """
    n = x.shape[0]
    m = 30 + int(math.sqrt(n))
    j = np.arange(1, m + 1, dtype=np.float64)
    quartile = x[max(int(n / 4.0 + 0.5) - 1, 0)]
    b = 1.0 / x[-1] + (1.0 - np.sqrt(m / (j - 0.5))) / (3.0 * quartile)
    # profile MLE of k for each b: k(b) = mean log(1 - b x)
    k = np.log1p(-b[:, None] * x[None, :]).mean(axis=1)
    profile = n * (np.log(-b / k) - k - 1.0)
    weights = np.exp(profile - profile.max())
    weights /= weights.sum()
    b_hat = float(np.sum(b * weights))
    k_hat = float(np.log1p(-b_hat * x).mean())
    sigma = -k_hat / b_hat
    k_hat = (n * k_hat + prior_weight * 0.5) / (n + prior_weight)
    return k_hat, sigma


def gpd_quantile(p: np.ndarray, k: float, sigma: float) -> np.ndarray:
    """Quantiles of a GPD with location 0, shape ``k`` and scale ``sigma``."""
    if abs(k) < 1e-12:
        return -sigma * np.log1p(-p)
    with np.errstate(over="ignore"):  # huge k: quantiles overflow to inf, truncated by the caller
        return sigma * np.expm1(-k * np.log1p(-p)) / k


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
        ValueError: for fewer than 2 draws, or ratios that are NaN or ``+inf``.
    """
    lr = np.asarray(log_ratios, dtype=np.float64)
    if lr.ndim < 1 or lr.shape[-1] < 2:
        raise ValueError(f"psis needs at least 2 draws on the last axis, got shape {lr.shape}")
    if np.isnan(lr).any() or np.isposinf(lr).any():
        raise ValueError("log_ratios contain NaN or +inf; importance ratios must be finite")
    flat = lr.reshape(-1, lr.shape[-1])
    out = np.empty_like(flat)
    khat = np.empty(flat.shape[0])
    for i, row in enumerate(flat):
        out[i], khat[i] = _psis_1d(row)
    return out.reshape(lr.shape), khat.reshape(lr.shape[:-1])


def _psis_1d(lr: np.ndarray) -> tuple[np.ndarray, float]:
    s = lr.shape[0]
    finite = lr[np.isfinite(lr)]
    scale = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
    if finite.size == s and float(finite.max() - finite.min()) <= CONSTANT_RTOL * scale:
        return np.full(s, -math.log(s)), math.inf
    lw = lr - lr.max()  # largest raw weight is 1: exp() cannot overflow
    m = tail_length(s)
    order = np.argsort(lw, kind="stable")
    khat = math.inf
    if m >= 5 and s > m:
        tail_idx = order[-m:]
        cutoff = lw[order[-m - 1]]
        w_cut = math.exp(cutoff)
        exceed = np.exp(lw[tail_idx]) - w_cut
        if exceed[-1] > 0 and np.all(np.isfinite(exceed)):
            # a tail with ties at the cutoff still has a positive largest exceedance
            exceed = np.maximum(exceed, np.finfo(np.float64).tiny)
            khat, sigma = fit_generalized_pareto(exceed)
            if np.isfinite(khat):
                p = (np.arange(1, m + 1) - 0.5) / m
                smoothed = w_cut + gpd_quantile(p, khat, sigma)
                # truncate at the largest raw weight (Vehtari et al. 2024, section 3)
                lw[tail_idx] = np.log(np.minimum(smoothed, 1.0))
            else:
                khat = math.inf
    lw = lw - _logsumexp(lw)
    return lw, float(khat)


def _logsumexp(x: np.ndarray) -> float:
    mx = float(np.max(x))
    if not np.isfinite(mx):
        return mx
    return mx + math.log(float(np.sum(np.exp(x - mx))))


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
