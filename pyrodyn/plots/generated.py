"""A free-running generation against the data: attractors on shared ranges and power spectra.

The figure of ``pyrodyn evaluate`` (``generated.png``) and ``pyrodyn demo`` (``attractor.png``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from pyrodyn.metrics.power_spectrum import power_spectrum
from pyrodyn.plots._figure import finish, new_figure
from pyrodyn.plots.attractor import as_trajectory, axis_labels, draw_attractor_panels
from pyrodyn.plots.spectra import DECADES, draw_spectra


def _channels(shown: int, total: int) -> str:
    """The spectrum row's title: which channels it shows when not all."""
    return (
        "power spectra" if shown == total else f"power spectra of channels 0-{shown - 1} of {total}"
    )


def plot_generated(
    true: np.ndarray,
    generated: np.ndarray,
    *,
    dt: float | None = None,
    time_unit: str = "time unit",
    names: Sequence[str] | None = None,
    unit: str | None = None,
    labels: tuple[str, str] = ("data", "generated"),
    note: str | None = None,
    max_channels: int = 3,
    sigma: float | None = None,
    decades: float = DECADES,
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Top row: ``true`` and ``generated`` in state space on the same ranges, then ``note``.

    Without a note the third panel overlays both in the plane of the first two channels.

    Bottom row: the normalised, Gaussian-smoothed power spectrum
    (:func:`pyrodyn.metrics.power_spectrum.power_spectrum`, the spectrum D_H compares) of each
    of the first ``max_channels`` channels, both series cut to the shorter length; each power
    axis shows at most ``decades`` below the peak of the data's spectrum.

    Args:
        true: data ``(T, N)``.
        generated: generated trajectory ``(T', N)``.
        dt: time between steps in ``time_unit`` (None: frequencies in cycles per step).
        time_unit: the data's time unit, for the frequency axis.
        names: name of each channel (default ``x0, x1, ...``).
        unit: unit of the values, for the state-space axes (e.g. ``"z-scored"``).
        labels: names of the two trajectories.
        note: a sentence beside the attractors, e.g. the verdict of
            :func:`pyrodyn.diagnostics.trajectory.trajectory_verdict` (a collapse in words).
        max_channels: spectra of at most this many channels (the row's title says which).
        sigma: spectrum smoothing in frequency bins (default one per 1000 steps, at least 1).
        decades: decades below the data's peak shown on the power axes.
        title: figure title.
        path: save the figure as PNG here.

    Raises:
        ValueError: trajectories that are not ``(time, dims)`` with the same dims, too short
            (fewer than 4 steps), ``dt <= 0`` or ``max_channels < 1``.
    """
    x, y = as_trajectory(true, "true"), as_trajectory(generated, "generated")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"true and generated need the same dims, got {x.shape} and {y.shape}")
    n = min(len(x), len(y))
    if n < 4:
        raise ValueError(f"need at least 4 steps of each trajectory for spectra, got {n}")
    if dt is not None and not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt}")
    if max_channels < 1:
        raise ValueError(f"max_channels must be >= 1, got {max_channels}")
    text = axis_labels(x.shape[1], names, None)
    shown = list(range(min(x.shape[1], int(max_channels))))
    fig = new_figure(12.0, 7.6)
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.15, 1.0])
    draw_attractor_panels(top, x, y, labels=labels, names=names, unit=unit, note=note, overlay=True)
    smooth = max(1.0, n / 1000) if sigma is None else float(sigma)
    # a missing entry of the data counts as its channel's mean (no power)
    xs = x[:n, shown]
    p = power_spectrum(np.where(np.isnan(xs), np.nanmean(xs, axis=0), xs), smooth)
    finite = np.isfinite(y[:n, shown]).all()
    q = power_spectrum(y[:n, shown], smooth) if finite else None
    freq = np.fft.rfftfreq(n, d=1.0 if dt is None else float(dt))
    freq_unit = "cycles / step" if dt is None else f"cycles / {time_unit}"
    axes = bottom.subplots(1, len(shown), squeeze=False)[0]
    for ax, c in zip(axes, shown):
        draw_spectra(
            ax,
            freq,
            p[:, c],
            None if q is None else q[:, c],
            labels=labels,
            freq_unit=freq_unit,
            decades=decades,
        )
        ax.set_title(text[c], fontsize="medium")
        if q is None:
            ax.text(0.5, 0.9, f"{labels[1]}: non-finite", transform=ax.transAxes, ha="center")
    axes[0].legend(fontsize="small")
    bottom.suptitle(_channels(len(shown), x.shape[1]), fontsize="medium")
    if title:
        fig.suptitle(title)
    return finish(fig, path)


__all__ = ["plot_generated"]
