"""Latent trajectories: posterior mean and credible band per latent dimension."""

from __future__ import annotations

import os

import numpy as np
from matplotlib.figure import Figure

from pyrodyn.plots._figure import finish, new_figure


def plot_latents(
    samples: np.ndarray,
    *,
    times: np.ndarray | None = None,
    true: np.ndarray | None = None,
    level: float = 0.9,
    max_dims: int = 6,
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """One panel per latent dimension: mean and central ``level`` band of ``samples``.

    Args:
        samples: posterior draws of one trial's latents ``(S, T, D)``.
        times: ``(T,)`` time stamps (default steps).
        true: ground-truth latents ``(T, D')`` overlaid on the first ``min(D, D')`` panels (only
            meaningful when the latent space is identified, e.g. after an alignment).
        level: credible level of the band, in (0, 1).
        max_dims: plot at most this many dimensions.
        title: figure title.
        path: save the figure as PNG here.
    """
    z = np.asarray(samples, dtype=np.float64)
    if z.ndim != 3:
        raise ValueError(f"samples must be (draws, time, latent), got shape {z.shape}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    _, t, d = z.shape
    d = min(d, int(max_dims))
    tt = np.arange(t) if times is None else np.asarray(times, dtype=np.float64)
    lo, hi = np.quantile(z, [(1 - level) / 2, (1 + level) / 2], axis=0)
    mean = z.mean(axis=0)
    fig = new_figure(7.0, 1.5 + 1.3 * d)
    axes = fig.subplots(d, 1, sharex=True, squeeze=False)[:, 0]
    for k, ax in enumerate(axes):
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
    axes[-1].set_xlabel("time")
    if title:
        fig.suptitle(title)
    return finish(fig, path)
