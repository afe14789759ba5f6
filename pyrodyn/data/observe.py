"""Observation models that turn a state trajectory into synthetic modalities (seeded).

Each function takes states ``(T, dim)`` or ``(trials, T, dim)`` and returns observations with the
same leading shape. Random projections and thresholds are drawn from ``numpy.random.default_rng(
seed)``, so a seed fixes both the emission parameters and the noise. Following the MTF synthetic
data (Brenner et al., ICML 2024; Kramer et al., ICML 2022), see specs/mtf.md 3.2.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logsumexp

_Seed = int | np.random.Generator | None


def _states(states: np.ndarray) -> np.ndarray:
    arr = np.asarray(states, dtype=np.float64)
    if arr.ndim not in (2, 3) or arr.shape[-1] < 1 or arr.shape[-2] < 1:
        raise ValueError(
            f"states must have shape (time, dim) or (trials, time, dim), got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("states must be finite")
    return arr


def _rng(seed: _Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _positive_int(value: int, name: str) -> int:
    if not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _projections(
    states: np.ndarray, num_channels: int, rng: np.random.Generator, weight_scale: float
) -> np.ndarray:
    """``(..., num_channels)`` projections ``x W`` with ``W ~ N(0, weight_scale^2 / dim)``."""
    dim = states.shape[-1]
    weights = rng.standard_normal((dim, num_channels)) * weight_scale / np.sqrt(dim)
    return states @ weights


def gaussian(states: np.ndarray, noise: float = 0.1, seed: _Seed = None) -> np.ndarray:
    """``states + N(0, noise^2)`` element-wise; same shape as ``states`` ``(..., T, dim)``."""
    x = _states(states)
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    return x + noise * _rng(seed).standard_normal(x.shape)


def poisson(
    states: np.ndarray,
    num_channels: int = 3,
    mean_rate: float = 1.0,
    seed: _Seed = None,
    *,
    weight_scale: float = 0.15,
    return_rates: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Poisson counts with a log link from random projections of the state.

    ``log rate_c = b_c + w_c^T x`` with ``w_c ~ N(0, weight_scale^2 / dim)``; the intercept
    ``b_c`` is chosen so the mean rate of channel c over the given states is exactly
    ``mean_rate``. The default ``weight_scale`` gives weakly informative counts like the
    shipped MTF data (coefficients about 0.04-0.12 per standardised coordinate); raise it for
    more informative counts.

    Args:
        states: ``(T, dim)`` or ``(trials, T, dim)``, ideally standardised.
        num_channels: number of count channels.
        mean_rate: target mean count per step (> 0).
        seed: seed or Generator.
        weight_scale: scale of the projection weights.
        return_rates: also return the rates.

    Returns:
        int64 counts ``(..., T, num_channels)`` (and the float rates when ``return_rates``).
    """
    x = _states(states)
    num_channels = _positive_int(num_channels, "num_channels")
    if not mean_rate > 0:
        raise ValueError(f"mean_rate must be > 0, got {mean_rate}")
    rng = _rng(seed)
    eta = _projections(x, num_channels, rng, weight_scale)
    flat = eta.reshape(-1, num_channels)
    # b = log(mean_rate) - log(mean(exp(eta))), computed stably.
    intercept = np.log(mean_rate) - (logsumexp(flat, axis=0) - np.log(flat.shape[0]))
    rates = np.exp(eta + intercept)
    counts = rng.poisson(rates).astype(np.int64)
    return (counts, rates) if return_rates else counts


def ordinal(
    states: np.ndarray,
    num_channels: int = 8,
    num_categories: int = 7,
    seed: _Seed = None,
    *,
    weight_scale: float = 3.0,
    threshold_spread: float = 1.5,
) -> np.ndarray:
    """Ordinal codes ``1..C`` from a cumulative-logit model of random projections of the state.

    ``P(o <= k) = sigmoid(theta_k - w^T x)`` for ``k = 1..C-1`` with sorted thresholds
    ``theta_c = mean(eta_c) + sd(eta_c) * sort(N(0, threshold_spread^2))`` per channel, so levels
    are spread over the range of each projection; nearby thresholds leave some levels rarely used,
    as in the shipped MTF data.

    Args:
        states: ``(T, dim)`` or ``(trials, T, dim)``.
        num_channels: number of ordinal channels.
        num_categories: C >= 2 levels.
        seed: seed or Generator.
        weight_scale: scale of the projection weights (larger: sharper, more state-dependent).
        threshold_spread: spread of the thresholds in units of the projection's sd.

    Returns:
        int64 codes in ``1..C`` of shape ``(..., T, num_channels)``.
    """
    x = _states(states)
    num_channels = _positive_int(num_channels, "num_channels")
    if not isinstance(num_categories, (int, np.integer)) or num_categories < 2:
        raise ValueError(f"num_categories must be an int >= 2, got {num_categories!r}")
    rng = _rng(seed)
    eta = _projections(x, num_channels, rng, weight_scale)
    flat = eta.reshape(-1, num_channels)
    centre, spread = flat.mean(axis=0), flat.std(axis=0)
    raw = np.sort(rng.standard_normal((num_categories - 1, num_channels)) * threshold_spread, 0)
    thresholds = centre + np.where(spread > 0, spread, 1.0) * raw  # (C-1, channels)
    cdf = expit(thresholds - eta[..., None, :])  # (..., C-1, channels), increasing in k
    u = rng.random(eta.shape)
    return (1 + np.sum(u[..., None, :] > cdf, axis=-2)).astype(np.int64)


def categorical_octants(
    states: np.ndarray, *, one_hot: bool = False, center: np.ndarray | None = None
) -> np.ndarray:
    """Orthant labels of the centred state (octants for 3-D states), as in the MTF symbolic data.

    The label is ``sum_d 2^d [x_d > c_d]`` with ``c`` the mean state over all time steps and trials
    (or ``center``), so 3-D states get labels ``0..7``.

    Args:
        states: ``(T, dim)`` or ``(trials, T, dim)`` with ``dim <= 16``.
        one_hot: return one-hot vectors ``(..., T, 2**dim)`` instead of labels ``(..., T)``.
        center: ``(dim,)`` centre (default: the mean state).

    Returns:
        int64 labels ``(..., T)`` or float one-hot ``(..., T, 2**dim)``.
    """
    x = _states(states)
    dim = x.shape[-1]
    if dim > 16:
        raise ValueError(f"categorical_octants supports dim <= 16 (2**dim classes), got {dim}")
    c = x.reshape(-1, dim).mean(axis=0) if center is None else np.asarray(center, np.float64)
    if c.shape != (dim,):
        raise ValueError(f"center must have shape ({dim},), got {c.shape}")
    labels = np.sum((x > c).astype(np.int64) << np.arange(dim), axis=-1)
    if one_hot:
        return np.eye(2**dim)[labels]
    return labels


def bernoulli(
    states: np.ndarray,
    num_channels: int = 8,
    seed: _Seed = None,
    *,
    weight_scale: float = 3.0,
) -> np.ndarray:
    """Binary observations ``Bernoulli(sigmoid(w^T x - median(w^T x)))`` from random projections.

    The offset makes each channel fire on about half of the steps.

    Args:
        states: ``(T, dim)`` or ``(trials, T, dim)``.
        num_channels: number of binary channels.
        seed: seed or Generator.
        weight_scale: scale of the projection weights (larger: more state-dependent).

    Returns:
        int64 values in ``{0, 1}`` of shape ``(..., T, num_channels)``.
    """
    x = _states(states)
    num_channels = _positive_int(num_channels, "num_channels")
    rng = _rng(seed)
    eta = _projections(x, num_channels, rng, weight_scale)
    eta = eta - np.median(eta.reshape(-1, num_channels), axis=0)
    return (rng.random(eta.shape) < expit(eta)).astype(np.int64)
