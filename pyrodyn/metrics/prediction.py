"""n-step prediction error of forecasts against the observed continuation (spec mtf.md 2.3)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pyrodyn.metrics._arrays import as_numpy, as_trajectory
from pyrodyn.metrics.base import register_metric


def check_forecasts(x_true: np.ndarray, forecasts: np.ndarray) -> np.ndarray:
    """Validate ``forecasts`` ``(T_f, H, N)`` against ``x_true`` ``(T, N)``; return it as numpy."""
    forecasts = as_numpy(forecasts, "forecasts")
    if forecasts.ndim == 2 and x_true.shape[1] == 1:
        forecasts = forecasts[..., None]
    if forecasts.ndim != 3:
        raise ValueError(
            f"forecasts must have shape (time, horizon, features), got shape {forecasts.shape}"
        )
    if forecasts.shape[2] != x_true.shape[1]:
        raise ValueError(
            f"forecasts have {forecasts.shape[2]} features but x_true has {x_true.shape[1]}"
        )
    if forecasts.shape[0] > x_true.shape[0] or forecasts.shape[1] < 1:
        raise ValueError(
            f"forecasts of shape {forecasts.shape} do not fit x_true of shape {x_true.shape}: "
            "expected at most T start times and a horizon H >= 1"
        )
    return forecasts


def nstep_errors(
    x_true: np.ndarray,
    forecasts: np.ndarray,
    n: int | None,
    loss: Callable[[np.ndarray], np.ndarray],
) -> float | np.ndarray:
    """Mean of ``loss(forecast - target)`` for horizon ``n`` (or the curve over ``1..H``).

    ``forecasts[t, k]`` predicts ``x_true[t + k + 1]``; start times whose target lies beyond the
    end of ``x_true`` are skipped.
    """
    x_true = as_trajectory(x_true, "x_true")
    forecasts = check_forecasts(x_true, forecasts)
    horizon = forecasts.shape[1]
    steps = range(1, horizon + 1) if n is None else [n]
    if n is not None and not (isinstance(n, (int, np.integer)) and 1 <= n <= horizon):
        raise ValueError(f"n must be an int in 1..{horizon} (the forecast horizon), got {n!r}")
    out = []
    for k in steps:
        starts = min(forecasts.shape[0], x_true.shape[0] - k)
        if starts <= 0:
            out.append(np.nan)
            continue
        diff = forecasts[:starts, k - 1] - x_true[k : k + starts]
        out.append(float(np.mean(loss(diff))))
    return out[0] if n is not None else np.asarray(out)


@register_metric(
    "pe",
    needs=("x_true", "forecasts"),
    description="n-step prediction error (MSE of forecasts; the curve over 1..H by default)",
)
def prediction_error(
    x_true: np.ndarray, forecasts: np.ndarray, *, n: int | None = None
) -> float | np.ndarray:
    """Mean squared error of n-step forecasts (spec mtf.md 2.3).

    Args:
        x_true: ``(T, N)`` observed trajectory.
        forecasts: ``(T_f, H, N)`` with ``T_f <= T``; ``forecasts[t, k]`` predicts
            ``x_true[t + k + 1]`` (e.g. decoded from the model initialised at the encoding of
            ``x_true[t]`` and iterated ``k + 1`` steps).
        n: the horizon to report (1..H), or None for the whole curve.

    Returns:
        The MSE at horizon ``n`` averaged over start times and features, or ``(H,)`` for n = None.
    """
    return nstep_errors(x_true, forecasts, n, np.square)
