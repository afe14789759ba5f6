"""Leave-future-out CV per origin: the elpd of each prediction and the k-hat of its weights."""

from __future__ import annotations

import os

import numpy as np
from matplotlib.figure import Figure

from pyrodyn.diagnostics.lfo import LFOResult
from pyrodyn.plots._figure import finish, new_figure


def plot_lfo(
    result: LFOResult, *, title: str | None = None, path: str | os.PathLike | None = None
) -> Figure:
    """The elpd per origin (a line per held-out sequence, and their mean) and k-hat per origin.

    Origins whose weights kept k-hat above the threshold after re-encoding are marked with a
    red cross; hollow markers show where the guide was re-encoded on the origin's own prefix.
    """
    fig = new_figure(9.0, 3.4)
    ax_e, ax_k = fig.subplots(1, 2)
    x = result.origins
    for row in result.elpd:
        ax_e.plot(x, row, color="tab:blue", alpha=0.3, lw=0.8)
    ax_e.plot(x, result.elpd.mean(0), color="0.1", lw=1.6, marker="o", ms=3, label="mean")
    ax_e.set_xlabel("origin (steps seen)")
    ax_e.set_ylabel(f"elpd of the next {result.horizon} step(s) (nats)")
    ax_e.legend(fontsize="small")
    k = np.where(np.isfinite(result.khat), result.khat, np.nan)
    bad = k > result.threshold
    xs = np.broadcast_to(x, k.shape)
    ax_k.scatter(xs[~bad], k[~bad], s=12, color="tab:blue", label="k-hat")
    ax_k.scatter(xs[bad], k[bad], s=18, color="tab:red", marker="x", label=f"> {result.threshold}")
    refit = result.refit & ~bad
    ax_k.scatter(
        xs[refit], k[refit], s=40, facecolors="none", edgecolors="0.4", lw=0.8, label="re-encoded"
    )
    ax_k.axhline(result.threshold, color="tab:red", lw=1, ls="--")
    ax_k.set_xlabel("origin (steps seen)")
    ax_k.set_ylabel("PSIS k-hat")
    ax_k.legend(fontsize="small")
    fig.suptitle(
        title
        or f"leave-future-out CV: {result.elpd.shape[0]} held-out sequences, "
        f"elpd {result.total:.1f} nats"
    )
    return finish(fig, path)


__all__ = ["plot_lfo"]
