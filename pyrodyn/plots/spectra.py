"""Power spectra of observed versus generated data."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from pyrodyn.plots._figure import finish, new_figure


def plot_power_spectra(
    spectra: Mapping[str, Mapping[str, object]],
    *,
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """One panel per modality: mean (over features) normalised spectrum, observed vs generated.

    Args:
        spectra: modality -> ``{"freq": (F,), "spectrum_obs": (F, N), "spectrum_gen": (F, N)}``
            (as returned by :func:`pyrodyn.diagnostics.ppc.dynamics_checks`), optionally
            ``"d_h"``.
        title: figure title.
        path: save the figure as PNG here.
    """
    names = [m for m in spectra if not m.startswith("_")]
    if not names:
        raise ValueError("no spectra to plot (need at least one modality)")
    fig = new_figure(3.8 * len(names), 3.2)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, m in zip(axes, names):
        rec = spectra[m]
        f = np.asarray(rec["freq"])
        obs = np.asarray(rec["spectrum_obs"]).reshape(f.shape[0], -1).mean(axis=1)
        gen = np.asarray(rec["spectrum_gen"]).reshape(f.shape[0], -1).mean(axis=1)
        ax.semilogy(f[1:], obs[1:], color="0.2", lw=1.2, label="observed")
        ax.semilogy(f[1:], gen[1:], color="tab:red", lw=1.2, label="generated")
        dh = rec.get("d_h")
        ax.set_title(m if dh is None else f"{m}  (D_H = {float(dh):.3f})", fontsize="medium")
        ax.set_xlabel("frequency (cycles / step)")
    axes[0].set_ylabel("normalised power")
    axes[0].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return finish(fig, path)
