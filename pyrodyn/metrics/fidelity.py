"""Fidelity metrics for ordinal and count modalities (spec mtf.md 2.4; Brenner et al., ICML 2024).

n-step errors of ordinal modes and count predictions (OPE, PPE), the Spearman cross-correlation
error (SCE), the autocorrelation errors (ACE with the Spearman ACF, ACEP with the Pearson ACF), and
the rate and zero-fraction errors of count channels (the MTF "PFR" without its ``/ T`` quirk).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from pyrodyn.metrics._arrays import as_trajectory, check_same_features
from pyrodyn.metrics.base import register_metric
from pyrodyn.metrics.prediction import nstep_errors


@register_metric(
    "ope",
    needs=("x_true", "forecasts"),
    description="ordinal n-step error: MAE of the predicted mode against the true category",
)
def ordinal_prediction_error(
    x_true: np.ndarray, forecasts: np.ndarray, *, n: int | None = None
) -> float | np.ndarray:
    """OPE: mean absolute error between predicted ordinal modes and the true categories.

    Args:
        x_true: ``(T, N)`` observed ordinal codes.
        forecasts: ``(T_f, H, N)`` predicted modes; ``forecasts[t, k]`` predicts
            ``x_true[t + k + 1]``.
        n: horizon (1..H), or None for the curve over ``1..H`` (the reference reports 1..10).

    Returns:
        The error at horizon ``n`` (mean over start times and channels), or ``(H,)``.
    """
    return nstep_errors(x_true, forecasts, n, np.abs)


@register_metric(
    "ppe",
    needs=("x_true", "forecasts"),
    description="count n-step error: MAE of (sampled) count predictions against the true counts",
)
def count_prediction_error(
    x_true: np.ndarray, forecasts: np.ndarray, *, n: int | None = None
) -> float | np.ndarray:
    """PPE: mean absolute error of n-step count predictions (the reference samples the Poisson).

    Args:
        x_true: ``(T, N)`` observed counts.
        forecasts: ``(T_f, H, N)`` predicted counts (samples or means), aligned as in
            :func:`ordinal_prediction_error`.
        n: horizon (1..H), or None for the whole curve.

    Returns:
        The error at horizon ``n``, or ``(H,)``.
    """
    return nstep_errors(x_true, forecasts, n, np.abs)


def _correlation_matrix(x: np.ndarray, spearman: bool) -> np.ndarray:
    """``(N, N)`` Pearson or Spearman correlations; a constant channel correlates 0 with others."""
    if spearman:
        x = rankdata(x, axis=0)
    centred = x - x.mean(axis=0)
    sd = np.sqrt(np.mean(centred**2, axis=0))
    z = centred / np.where(sd > 0, sd, 1.0)
    corr = z.T @ z / x.shape[0]
    np.fill_diagonal(corr, 1.0)
    return corr


@register_metric(
    "sce",
    needs=("x_true", "x_gen"),
    description="mean absolute difference of the Spearman cross-correlation matrices",
)
def spearman_cross_correlation_error(x_true: np.ndarray, x_gen: np.ndarray) -> float:
    """SCE: ``mean_ij |rho_true(i, j) - rho_gen(i, j)|`` of Spearman correlation matrices.

    Args:
        x_true: ``(T, N)`` observed channels (ordinal codes).
        x_gen: ``(T', N)`` generated channels.

    Returns:
        The error (0 for identical correlation structure; NaN if ``x_gen`` is not finite).
    """
    x_true = as_trajectory(x_true, "x_true")
    x_gen = as_trajectory(x_gen, "x_gen")
    check_same_features(x_true, x_gen)
    if not np.all(np.isfinite(x_gen)):
        return float("nan")
    diff = _correlation_matrix(x_true, True) - _correlation_matrix(x_gen, True)
    return float(np.mean(np.abs(diff)))


def autocorrelation(x: np.ndarray, max_lag: int, *, spearman: bool = True) -> np.ndarray:
    """ACF ``(max_lag + 1, N)`` of each column of ``x`` ``(T, N)`` at lags ``0..max_lag``.

    ``acf(k) = sum_t (r_t - m)(r_{t+k} - m) / sum_t (r_t - m)^2`` with ``r`` the series (Pearson)
    or its ranks (Spearman: the ranks of the whole series, a fast approximation of the per-lag
    Spearman correlation that agrees closely for long series), computed by FFT. A constant
    series has ACF 1 at lag 0 and 0 elsewhere.
    """
    x = as_trajectory(x, "x")
    if spearman:
        x = rankdata(x, axis=0)
    t = x.shape[0]
    centred = x - x.mean(axis=0)
    # the mean of a constant float column can be off by an ulp: drop that residue, else the
    # rounding noise, itself constant, would show up as an ACF near 1
    centred[:, np.all(x == x[0], axis=0)] = 0.0
    size = 1 << int(np.ceil(np.log2(2 * t)))
    spec = np.fft.rfft(centred, n=size, axis=0)
    acov = np.fft.irfft(spec * np.conj(spec), n=size, axis=0)[: max_lag + 1]
    var = acov[0]
    acf = acov / np.where(var > 0, var, 1.0)
    acf[0] = 1.0
    return acf


@register_metric(
    "ace",
    needs=("x_true", "x_gen"),
    description="mean squared difference of Spearman autocorrelation functions, lags 1..199",
)
def autocorrelation_error(
    x_true: np.ndarray,
    x_gen: np.ndarray,
    *,
    max_lag: int = 200,
    max_points: int = 50_000,
    pearson: bool = False,
) -> float:
    """ACE: mean over channels of the mean squared ACF difference at lags ``1..max_lag - 1``.

    Uses the first ``max_points`` points of each series and the Spearman ACF of
    :func:`autocorrelation` (``pearson=True``: the Pearson ACF, ACEP, for count channels). The
    reference fixes the lag-``max_lag`` entry at 0, so lags ``1..199`` are compared by default.

    Args:
        x_true: ``(T, N)`` observed channels.
        x_gen: ``(T', N)`` generated channels.
        max_lag: one past the last lag compared.
        max_points: leading points used from each series.
        pearson: Pearson instead of Spearman ACF.

    Returns:
        The error (0 for identical series; NaN if ``x_gen`` is not finite).
    """
    x_true = as_trajectory(x_true, "x_true")[:max_points]
    x_gen = as_trajectory(x_gen, "x_gen")[:max_points]
    check_same_features(x_true, x_gen)
    if not isinstance(max_lag, (int, np.integer)) or max_lag < 2:
        raise ValueError(f"max_lag must be an int >= 2, got {max_lag!r}")
    if min(x_true.shape[0], x_gen.shape[0]) <= max_lag:
        raise ValueError(
            f"ACE needs series longer than max_lag = {max_lag}, got lengths {x_true.shape[0]} "
            f"and {x_gen.shape[0]}"
        )
    if not np.all(np.isfinite(x_gen)):
        return float("nan")
    lags = max_lag - 1
    acf_true = autocorrelation(x_true, lags, spearman=not pearson)[1:]
    acf_gen = autocorrelation(x_gen, lags, spearman=not pearson)[1:]
    return float(np.mean((acf_true - acf_gen) ** 2))


@register_metric(
    "acep",
    needs=("x_true", "x_gen"),
    description="mean squared difference of Pearson autocorrelation functions (count channels)",
)
def autocorrelation_error_pearson(
    x_true: np.ndarray, x_gen: np.ndarray, *, max_lag: int = 200, max_points: int = 50_000
) -> float:
    """ACEP: :func:`autocorrelation_error` with the Pearson ACF (``(T, N)`` inputs)."""
    return autocorrelation_error(
        x_true, x_gen, max_lag=max_lag, max_points=max_points, pearson=True
    )


@register_metric(
    "rate_error",
    needs=("x_true", "x_gen"),
    description="mean over count channels of |mean_gen - mean_true|",
)
def rate_error(x_true: np.ndarray, x_gen: np.ndarray) -> float:
    """Mean over channels of ``|mean(x_gen) - mean(x_true)|`` (counts ``(T, N)``, ``(T', N)``).

    The MTF reference divides this by T (a quirk, spec 2.4); this is the plain rate difference.
    """
    x_true = as_trajectory(x_true, "x_true")
    x_gen = as_trajectory(x_gen, "x_gen")
    check_same_features(x_true, x_gen)
    return float(np.mean(np.abs(x_gen.mean(axis=0) - x_true.mean(axis=0))))


@register_metric(
    "zero_fraction_error",
    needs=("x_true", "x_gen"),
    description="mean over count channels of |fraction of zeros gen - true|",
)
def zero_fraction_error(x_true: np.ndarray, x_gen: np.ndarray) -> float:
    """Mean over channels of the absolute difference of the fractions of zero counts.

    Args:
        x_true: ``(T, N)`` observed counts.
        x_gen: ``(T', N)`` generated counts.
    """
    x_true = as_trajectory(x_true, "x_true")
    x_gen = as_trajectory(x_gen, "x_gen")
    check_same_features(x_true, x_gen)
    return float(np.mean(np.abs(np.mean(x_gen == 0, axis=0) - np.mean(x_true == 0, axis=0))))
