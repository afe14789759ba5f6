"""Power spectra of observed versus generated data."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pyrodyn.plots._figure import finish, new_figure

#: Decades below the peak of the observed spectrum that a spectrum panel shows (a collapsed
#: generation's spectrum runs down to 1e-40, which would flatten everything else).
DECADES = 4.0
#: Label of the power axis: each spectrum is normalised to sum 1 over its frequencies.
POWER_LABEL = "power (fraction of total)"


def spectrum_limits(
    freq: np.ndarray, observed: np.ndarray, *others: np.ndarray, decades: float = DECADES
) -> tuple[tuple[float, float], tuple[float, float]]:
    """``(xlim, ylim)`` of a log-power panel (zero frequency excluded).

    The power axis runs from at most ``decades`` below the peak of ``observed`` (tighter when all
    spectra stay above that floor) to above the highest peak; the frequency axis ends where
    ``observed`` falls below the floor for good (with some margin), else at the last frequency.

    Raises:
        ValueError: ``observed`` without a positive finite value, or ``decades <= 0``.
    """
    if not decades > 0:
        raise ValueError(f"decades must be > 0, got {decades}")
    f = np.asarray(freq, dtype=np.float64)[1:]
    obs = np.asarray(observed, dtype=np.float64)[1:]
    if not (np.isfinite(obs) & (obs > 0)).any():
        raise ValueError("the observed spectrum has no positive finite power to plot")
    peak = float(np.nanmax(np.where(np.isfinite(obs), obs, np.nan)))
    floor = peak * 10.0 ** (-decades)
    above = np.flatnonzero(obs >= floor)
    f_max = float(f[-1]) if above[-1] == len(f) - 1 else min(float(f[-1]), 1.2 * f[above[-1]])
    shown = f <= f_max
    values = [obs[shown]] + [np.asarray(o, dtype=np.float64)[1:][shown] for o in others]
    values = np.concatenate([v[np.isfinite(v) & (v > 0)] for v in values])
    lower = max(floor, 0.5 * float(values.min()))
    upper = 2.0 * float(values.max())
    return (0.0, f_max), (lower, upper)


def draw_spectra(
    ax: Axes,
    freq: np.ndarray,
    observed: np.ndarray,
    generated: np.ndarray | None,
    *,
    labels: tuple[str, str] = ("observed", "generated"),
    freq_unit: str = "cycles / step",
    decades: float = DECADES,
) -> None:
    """One panel: ``observed`` and ``generated`` ``(F,)`` spectra on a clipped log-power axis.

    ``generated`` None (e.g. a diverged generation) draws the observed spectrum alone.
    """
    f = np.asarray(freq, dtype=np.float64)
    obs = np.asarray(observed, dtype=np.float64)
    ax.semilogy(f[1:], obs[1:], color="0.2", lw=1.2, label=labels[0])
    others = []
    if generated is not None:
        gen = np.asarray(generated, dtype=np.float64)
        # the floor of the axis, not 0, where a collapsed spectrum has no power at all
        ax.semilogy(f[1:], np.clip(gen[1:], 1e-300, None), color="tab:red", lw=1.2, label=labels[1])
        others.append(gen)
    xlim, ylim = spectrum_limits(f, obs, *others, decades=decades)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    if others and not (others[0][1:][f[1:] <= xlim[1]] >= ylim[0]).any():
        # e.g. a collapsed generation: say where its line went
        ax.text(
            0.97, 0.95, f"{labels[1]}: below this range", transform=ax.transAxes, ha="right",
            va="top", color="tab:red", fontsize="small",
        )  # fmt: skip
    ax.set_xlabel(f"frequency ({freq_unit})")
    ax.set_ylabel(POWER_LABEL)


def plot_power_spectra(
    spectra: Mapping[str, Mapping[str, object]],
    *,
    freq_unit: str = "cycles / step",
    decades: float = DECADES,
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """One panel per modality: mean (over features) normalised spectrum, observed vs generated.

    Each power axis shows at most ``decades`` below the peak of the observed spectrum.

    Args:
        spectra: modality -> ``{"freq": (F,), "spectrum_obs": (F, N), "spectrum_gen": (F, N)}``
            (as returned by :func:`pyrodyn.diagnostics.ppc.dynamics_checks`), optionally
            ``"d_h"``.
        freq_unit: unit of ``freq`` for the axis label.
        decades: decades below the observed peak shown on the power axis.
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
        draw_spectra(ax, f, obs, gen, freq_unit=freq_unit, decades=decades)
        dh = rec.get("d_h")
        ax.set_title(m if dh is None else f"{m}  (D_H = {float(dh):.3f})", fontsize="medium")
    axes[0].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return finish(fig, path)


__all__ = ["DECADES", "draw_spectra", "plot_power_spectra", "spectrum_limits"]
