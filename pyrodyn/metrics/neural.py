"""Reconstruction metrics for neural and behavioural modalities: rate R2, bits per spike, image R2.

The pooled R2 (``1 - SS_res / SS_tot`` over all trials, steps and features, with the grand mean)
is the held-out summary used for MM-GPVAE (specs/mmgpvae.md section 2); bits per spike is the
Poisson log-likelihood gain over a homogeneous per-neuron rate, per spike, in bits (Pei et al.,
"Neural Latents Benchmark", 2021).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import gammaln

from pyrodyn.metrics._arrays import as_numpy
from pyrodyn.metrics.base import register_metric


def _paired(x_true: Any, x_gen: Any) -> tuple[np.ndarray, np.ndarray]:
    a, b = as_numpy(x_true, "x_true"), as_numpy(x_gen, "x_gen")
    if a.shape != b.shape:
        raise ValueError(f"x_true and x_gen must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("x_true and x_gen must be non-empty")
    return a, b


def pooled_r2(x_true: Any, x_gen: Any) -> float:
    """``1 - sum (y - yhat)^2 / sum (y - mean y)^2`` over every entry (NaN entries skipped)."""
    a, b = _paired(x_true, x_gen)
    ok = np.isfinite(a) & np.isfinite(b)
    if not ok.any():
        raise ValueError("x_true and x_gen have no finite entry in common")
    a, b = a[ok], b[ok]
    ss_tot = float(((a - a.mean()) ** 2).sum())
    if ss_tot == 0.0:
        raise ValueError("x_true is constant; R2 is undefined")
    return 1.0 - float(((a - b) ** 2).sum()) / ss_tot


@register_metric(
    "rate_r2",
    needs=("x_true", "x_gen"),
    description="pooled R2 of inferred vs true firing rates (trials x time x neurons)",
)
def rate_r2(x_true: Any, x_gen: Any) -> float:
    """Pooled R2 of rates.

    Args:
        x_true: true rates ``(..., neurons)`` (e.g. the simulator's ``true_rates``).
        x_gen: inferred rates, same shape.
    """
    return pooled_r2(x_true, x_gen)


@register_metric(
    "image_r2",
    needs=("x_true", "x_gen"),
    description="pooled R2 of reconstructed vs observed images (trials x time x pixels)",
)
def image_r2(x_true: Any, x_gen: Any) -> float:
    """Pooled R2 of image (or any continuous modality) reconstructions, same shapes."""
    return pooled_r2(x_true, x_gen)


@register_metric(
    "bits_per_spike",
    needs=("x_true", "x_gen"),
    description="Poisson log-likelihood gain over a per-neuron constant rate, bits per spike",
)
def bits_per_spike(x_true: Any, x_gen: Any, *, baseline_rates: Any = None) -> float:
    """Bits per spike of predicted rates for observed counts.

    ``(log p(y | rates) - log p(y | r0)) / (n_spikes ln 2)`` with ``r0`` the per-neuron mean
    count of ``x_true`` (or ``baseline_rates``, e.g. from training trials).

    Args:
        x_true: spike counts ``(..., neurons)``, non-negative integers (NaN: missing).
        x_gen: predicted rates (expected counts per bin), same shape, positive.
        baseline_rates: ``(neurons,)`` baseline rates (default: mean count per neuron).

    Raises:
        ValueError: negative or non-integer counts, non-positive rates, or no spikes.
    """
    y, r = _paired(x_true, x_gen)
    ok = np.isfinite(y)
    if ((y[ok] < 0) | (y[ok] != np.round(y[ok]))).any():
        bad = y[ok][(y[ok] < 0) | (y[ok] != np.round(y[ok]))][0]
        raise ValueError(f"x_true must hold non-negative integer counts, got {bad}")
    if (r[ok] <= 0).any() or not np.isfinite(r[ok]).all():
        raise ValueError("x_gen must hold positive finite rates where x_true is observed")
    flat_y = np.where(ok, y, np.nan).reshape(-1, y.shape[-1])
    if baseline_rates is None:
        base = np.nanmean(flat_y, axis=0)
    else:
        base = as_numpy(baseline_rates, "baseline_rates").reshape(-1)
        if base.shape[0] != y.shape[-1]:
            raise ValueError(
                f"baseline_rates must have {y.shape[-1]} entries (one per neuron), got {base.shape}"
            )
    base = np.clip(base, 1e-9, None) * np.ones_like(y)
    n_spikes = float(y[ok].sum())
    if n_spikes <= 0:
        raise ValueError("x_true holds no spikes; bits per spike is undefined")

    def loglik(rate: np.ndarray) -> float:
        return float((y[ok] * np.log(rate[ok]) - rate[ok] - gammaln(y[ok] + 1.0)).sum())

    return (loglik(r) - loglik(base)) / (n_spikes * math.log(2.0))


__all__ = ["bits_per_spike", "image_r2", "pooled_r2", "rate_r2"]
