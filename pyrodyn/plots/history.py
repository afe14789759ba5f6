"""Training history: total loss and each named term (``history.csv`` of a run)."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from pyrodyn.plots._figure import finish, new_figure


def read_history(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Columns of a ``history.csv`` as float arrays (non-numeric cells become NaN)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no history file at {os.fspath(path)!r}")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"history file {os.fspath(path)!r} has no rows")

    def num(v: str | None) -> float:
        try:
            return float(v)
        except (TypeError, ValueError):
            return float("nan")

    return {k: np.array([num(r.get(k)) for r in rows]) for k in rows[0]}


def plot_history(
    history: Mapping[str, Sequence[float]] | str | os.PathLike,
    *,
    step: str = "step",
    terms: Sequence[str] | None = None,
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Loss (left) and its named terms (right) against the step.

    Args:
        history: column -> values, or the path of a ``history.csv``.
        step: the step column (default ``step``; row numbers when absent).
        terms: term columns to plot (default: every ``nll.*``, ``kl.*`` and other numeric
            column except time-like ones).
        title: figure title.
        path: save the figure as PNG here.
    """
    cols = (
        read_history(history)
        if isinstance(history, (str, os.PathLike))
        else {k: np.asarray(v, dtype=np.float64) for k, v in history.items()}
    )
    if not cols:
        raise ValueError("history is empty")
    n = len(next(iter(cols.values())))
    x = cols.get(step, np.arange(n, dtype=np.float64))
    skip = {step, "time", "wall", "elapsed", "lr", "epoch", "seconds"}
    total_key = next((k for k in ("loss", "total", "train_loss") if k in cols), None)
    if terms is None:
        terms = [
            k
            for k in cols
            if k not in skip
            and k != total_key
            and np.isfinite(cols[k]).any()
            and not k.startswith("val")
        ]
    fig = new_figure(10.0, 3.6)
    ax_total, ax_terms = fig.subplots(1, 2)
    if total_key is not None:
        ax_total.plot(x, cols[total_key], color="0.2", lw=0.8, label=total_key)
    for k in cols:
        if k.startswith("val") and np.isfinite(cols[k]).any():
            ok = np.isfinite(cols[k])
            ax_total.plot(x[ok], cols[k][ok], lw=1.0, marker=".", label=k)
    ax_total.set_xlabel(step)
    ax_total.set_ylabel("loss per observed step")
    if ax_total.lines:
        ax_total.legend(fontsize="small")
    for k in terms:
        y = cols[k]
        ok = np.isfinite(y)
        ax_terms.plot(x[ok], y[ok], lw=0.8, label=k)
    ax_terms.set_xlabel(step)
    ax_terms.set_ylabel("term")
    if terms and all(np.nanmin(cols[k]) > 0 for k in terms):
        ax_terms.set_yscale("log")
    if terms:
        ax_terms.legend(fontsize="small", ncols=2)
    if title:
        fig.suptitle(title)
    return finish(fig, path)
