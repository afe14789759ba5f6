"""Latent trajectories: posterior mean and credible band per latent dimension."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from pyrodyn.plots._figure import finish, new_figure


def _shown(dims: Sequence[int], total: int) -> str | None:
    """Which latent dimensions a figure shows, in words (None: all of them, in order)."""
    if list(dims) == list(range(total)):
        return None
    if list(dims) == list(range(dims[0], dims[0] + len(dims))) and len(dims) > 1:
        return f"dims {dims[0]}-{dims[-1]} of {total}"
    return f"dim{'s' if len(dims) > 1 else ''} {', '.join(map(str, dims))} of {total}"


def plot_latents(
    samples: np.ndarray,
    *,
    times: np.ndarray | None = None,
    true: np.ndarray | None = None,
    level: float = 0.9,
    dims: Sequence[int] | None = None,
    max_dims: int | None = 6,
    time_unit: str | None = None,
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """One panel per latent dimension: mean and central ``level`` band of ``samples``.

    When not every dimension is shown, the title says which (e.g. "dims 0-5 of 16").

    Args:
        samples: posterior draws of one trial's latents ``(S, T, D)``.
        times: ``(T,)`` time stamps (default steps).
        true: ground-truth latents ``(T, D')`` overlaid on the panels of dims below ``D'`` (only
            meaningful when the latent space is identified, e.g. after an alignment).
        level: credible level of the band, in (0, 1).
        dims: which dimensions to plot (default the first ``max_dims``).
        max_dims: plot at most this many dimensions (None: all).
        time_unit: unit of ``times`` for the axis label (default "steps" without ``times``, "the
            data's time unit" with them).
        title: figure title.
        path: save the figure as PNG here.
    """
    z = np.asarray(samples, dtype=np.float64)
    if z.ndim != 3:
        raise ValueError(f"samples must be (draws, time, latent), got shape {z.shape}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    _, t, total = z.shape
    if dims is None:
        limit = total if max_dims is None else int(max_dims)
        if limit < 1:
            raise ValueError(f"max_dims must be >= 1 or None, got {max_dims}")
        dims = range(min(total, limit))
    dims = [int(k) for k in dims]
    if not dims or min(dims) < 0 or max(dims) >= total:
        raise ValueError(f"dims {dims} out of range for {total} latent dimensions")
    tt = np.arange(t) if times is None else np.asarray(times, dtype=np.float64)
    lo, hi = np.quantile(z, [(1 - level) / 2, (1 + level) / 2], axis=0)
    mean = z.mean(axis=0)
    fig = new_figure(7.0, 1.5 + 1.3 * len(dims))
    axes = fig.subplots(len(dims), 1, sharex=True, squeeze=False)[:, 0]
    for ax, k in zip(axes, dims):
        ax.fill_between(
            tt,
            lo[:, k],
            hi[:, k],
            color="tab:blue",
            alpha=0.25,
            lw=0,
            label=f"{int(level * 100)}% band",
        )
        ax.plot(tt, mean[:, k], color="tab:blue", lw=1.0, label="posterior mean")
        if true is not None and k < np.shape(true)[-1]:
            ax.plot(tt, np.asarray(true)[:, k], color="0.2", lw=0.8, ls="--", label="true")
        ax.set_ylabel(f"z{k}")
    axes[0].legend(loc="upper right", fontsize="small", ncols=3)
    if times is None:
        axes[-1].set_xlabel(f"time ({time_unit or 'steps'})")
    else:
        unit = time_unit or "the data's time unit"
        axes[-1].set_xlabel(f"time ({unit})")
    shown = _shown(dims, total)
    if title or shown:
        fig.suptitle("; ".join(s for s in (title, shown) if s))
    return finish(fig, path)
