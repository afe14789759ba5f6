"""Posterior predictive check panels.

Distribution overlays, rootograms, category frequencies, and calibration (PIT histogram and
coverage of central intervals).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pyrodyn.diagnostics.ppc import pit, ppc_summary, predictive_values
from pyrodyn.diagnostics.sampling import PosteriorDraws
from pyrodyn.plots._figure import finish, new_figure


def _overlay(ax: Axes, pred: np.ndarray, obs: np.ndarray, num_lines: int) -> None:
    lo, hi = np.nanquantile(np.concatenate([obs, pred.ravel()]), [0.005, 0.995])
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    bins = np.linspace(lo, hi, 41)
    idx = np.linspace(0, pred.shape[0] - 1, min(num_lines, pred.shape[0])).astype(int)
    for j, i in enumerate(idx):
        h, e = np.histogram(pred[i], bins=bins, density=True)
        ax.stairs(
            h, e, color="tab:blue", alpha=0.25, lw=0.7, label="replicated" if j == 0 else None
        )
    h, e = np.histogram(obs, bins=bins, density=True)
    ax.stairs(h, e, color="0.1", lw=1.5, label="observed")
    ax.set_xlabel("value")
    ax.set_ylabel("density")


def _rootogram(ax: Axes, counts: dict) -> None:
    v = np.asarray(counts["value"])
    exp_root = np.sqrt(np.asarray(counts["expected"], dtype=np.float64))
    obs_root = np.sqrt(np.asarray(counts["observed"], dtype=np.float64))
    # hanging rootogram: observed bars hang from the expected curve (Kleiber and Zeileis 2016)
    ax.bar(
        v,
        obs_root,
        bottom=exp_root - obs_root,
        width=0.8,
        color="0.7",
        edgecolor="0.3",
        label="observed (hanging)",
    )
    ax.plot(v, exp_root, color="tab:red", marker="o", ms=3, lw=1.2, label="expected")
    ax.axhline(0.0, color="0.2", lw=0.8)
    ax.set_xlabel("count")
    ax.set_ylabel("sqrt(frequency)")


def _categories(ax: Axes, cats: dict) -> None:
    c = np.asarray(cats["category"])
    pred = np.asarray(cats["predicted"])
    # a rare category can have its mean outside the 5-95% quantile band: clip the bar at 0
    err = np.stack([pred - np.asarray(cats["lower"]), np.asarray(cats["upper"]) - pred])
    err = np.clip(err, 0.0, None)
    ax.bar(c - 0.2, cats["observed"], width=0.4, color="0.3", label="observed")
    ax.bar(
        c + 0.2,
        pred,
        width=0.4,
        color="tab:blue",
        alpha=0.7,
        yerr=err,
        capsize=2,
        label="predicted (90%)",
    )
    ax.set_xticks(c)
    ax.set_xlabel("category")
    ax.set_ylabel("frequency")


def plot_ppc(
    draws: PosteriorDraws,
    modalities: Sequence[str] | None = None,
    *,
    num_lines: int = 20,
    title: str | None = None,
    path: str | os.PathLike | None = None,
    summaries: Mapping[str, Mapping] | None = None,
) -> Figure:
    """One panel per modality, chosen by its likelihood's support.

    Continuous: histogram of the observed entries over those of ``num_lines`` replicated
    datasets; counts: hanging rootogram; ordinal / categorical: observed versus predicted
    category frequencies with 90% bands.

    Args:
        draws: posterior draws with predictive samples.
        modalities: which modalities (default all with predictive draws).
        num_lines: replicated datasets overlaid for continuous data.
        title: figure title.
        path: save the figure as PNG here.
        summaries: :func:`~pyrodyn.diagnostics.ppc.ppc_summary` per modality, where already
            computed (the others are computed here).
    """
    names = list(draws.predictive) if modalities is None else list(modalities)
    if not names:
        raise ValueError("no modality with posterior predictive draws to plot")
    summaries = summaries or {}
    fig = new_figure(4.0 * len(names), 3.4)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, m in zip(axes, names):
        summ = summaries[m] if m in summaries else ppc_summary(draws, m)
        kind = summ["kind"]
        if kind == "continuous":
            pred, obs = predictive_values(draws, m)
            keep = ~np.isnan(obs)
            _overlay(ax, pred[:, keep], obs[keep], num_lines)
        elif kind == "count":
            _rootogram(ax, summ["counts"])
        else:
            _categories(ax, summ["categories"])
        cov = summ["coverage"].get("0.9")
        ax.set_title(f"{m} ({kind}); 90% coverage {cov:.2f}", fontsize="medium")
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return finish(fig, path)


def plot_calibration(
    draws: PosteriorDraws,
    modalities: Sequence[str] | None = None,
    *,
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Calibration per modality: PIT histogram (left) and coverage versus nominal level (right).

    A calibrated model has a flat PIT histogram and coverage on the diagonal; a U-shaped
    histogram / coverage below the diagonal means over-confident predictions.
    """
    names = list(draws.predictive) if modalities is None else list(modalities)
    if not names:
        raise ValueError("no modality with posterior predictive draws to plot")
    levels = np.linspace(0.05, 0.95, 19)
    fig = new_figure(8.0, 3.0 * len(names))
    axes = fig.subplots(len(names), 2, squeeze=False)
    for (ax_pit, ax_cov), m in zip(axes, names):
        u = pit(draws, m)
        ax_pit.hist(u, bins=20, range=(0, 1), density=True, color="tab:blue", alpha=0.7)
        # the coverage of a central interval is the share of PIT values within it
        cov = [float(np.mean(np.abs(u - 0.5) <= a / 2)) if u.size else np.nan for a in levels]
        ax_pit.axhline(1.0, color="0.2", lw=1, ls="--")
        ax_pit.set_xlabel("PIT")
        ax_pit.set_ylabel("density")
        ax_pit.set_title(f"{m}: PIT", fontsize="medium")
        ax_cov.plot(levels, cov, marker="o", ms=3, color="tab:blue")
        ax_cov.plot([0, 1], [0, 1], color="0.2", lw=1, ls="--")
        ax_cov.set_xlabel("nominal level of central interval")
        ax_cov.set_ylabel("empirical coverage")
        ax_cov.set_title(f"{m}: coverage", fontsize="medium")
    if title:
        fig.suptitle(title)
    return finish(fig, path)
