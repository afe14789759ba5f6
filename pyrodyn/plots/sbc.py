"""Rank histograms of simulation-based calibration, with the band a uniform histogram stays in."""

from __future__ import annotations

import math
import os

import numpy as np
from matplotlib.figure import Figure

from pyrodyn.diagnostics.posterior_checks import SBC_ALPHA, rank_shape
from pyrodyn.diagnostics.ranks import SBCResult
from pyrodyn.plots._figure import finish, new_figure


def plot_sbc(
    result: SBCResult,
    *,
    max_panels: int = 8,
    level: float = 0.99,
    alpha: float = SBC_ALPHA,
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """One rank histogram per latent coordinate (Talts et al. 2018), worst coordinates first.

    The grey band is the central ``level`` binomial interval of each bin's count under uniform
    ranks; a coordinate whose uniformity test is rejected (Bonferroni at ``alpha``) is red and
    its title names the shape (too narrow: U, too wide: hump, biased: slope).

    Args:
        result: the SBC result.
        max_panels: draw at most this many coordinates (those with the smallest p-values).
        level: the band's probability.
        alpha: family-wise level of the tests.
        title: figure title.
        path: save as PNG here.
    """
    if int(max_panels) < 1:
        raise ValueError(f"max_panels must be >= 1, got {max_panels}")
    counts, edges = result.histogram()
    expected, low, high = result.expected_band(level)
    rejected = result.rejected(alpha)
    order = np.argsort(result.p_values, kind="stable")[: int(max_panels)]
    cols = min(4, order.size)
    rows = math.ceil(order.size / cols)
    fig = new_figure(2.4 * cols + 0.6, 1.9 * rows + 0.6)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, d in zip(axes, order):
        ax.fill_between(
            edges,
            np.r_[low, low[-1]],
            np.r_[high, high[-1]],
            step="post",
            color="0.85",
            label=f"{level:.0%} band (uniform)",
        )
        ax.stairs(expected, edges, color="0.5", lw=0.8, ls="--")
        color = "tab:red" if rejected[d] else "tab:blue"
        ax.stairs(counts[d], edges, color=color, lw=1.4, fill=False)
        shape = (
            f", {rank_shape(result.ranks[:, d], result.num_draws)['shape']}" if rejected[d] else ""
        )
        ax.set_title(f"{result.names[d]}: p = {result.p_values[d]:.2g}{shape}", fontsize="small")
        ax.set_xlabel(f"rank among {result.num_draws} draws")
        ax.set_ylabel("simulations")
    for ax in axes[order.size :]:
        ax.set_axis_off()
    bad = int(rejected.sum())
    fig.suptitle(
        title
        or f"SBC: {result.num_simulations} simulations, {bad} of {len(result.names)} "
        f"coordinates non-uniform (shown: the {order.size} smallest p-values)"
    )
    return finish(fig, path)


__all__ = ["plot_sbc"]
