"""True versus generated attractor: a 3-D view and the pairwise projections."""

from __future__ import annotations

import itertools
import os

import numpy as np
from matplotlib.figure import Figure

from pyrodyn.plots._figure import finish, new_figure


def _as_2d(x: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be (time, dims), got shape {a.shape}")
    return a


def plot_attractor(
    true: np.ndarray,
    generated: np.ndarray,
    *,
    dims: tuple[int, ...] | None = None,
    labels: tuple[str, str] = ("observed", "generated"),
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Trajectories ``(T, N)`` and ``(T', N)`` side by side in state space.

    With 3 or more plotted dims the first panel is a 3-D view of ``dims[:3]``; then one panel per
    pair of plotted dims (at most 3 dims, so at most 3 pairs).

    Args:
        true: reference trajectory ``(T, N)``.
        generated: model trajectory ``(T', N)``.
        dims: which dims to plot (default the first three).
        labels: legend labels of the two trajectories.
        title: figure title.
        path: save the figure as PNG here.
    """
    x, y = _as_2d(true, "true"), _as_2d(generated, "generated")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"true and generated need the same dims, got {x.shape} and {y.shape}")
    dims = tuple(range(min(3, x.shape[1]))) if dims is None else tuple(dims)
    if not dims or max(dims) >= x.shape[1]:
        raise ValueError(f"dims {dims} out of range for {x.shape[1]}-dimensional trajectories")
    pairs = list(itertools.combinations(dims[:3], 2)) or [(dims[0], dims[0])]
    three_d = len(dims) >= 3
    ncols = len(pairs) + int(three_d)
    fig = new_figure(3.6 * ncols, 3.4)
    col = 1
    style = [{"lw": 0.6, "color": "0.25"}, {"lw": 0.6, "color": "tab:red", "alpha": 0.8}]
    if three_d:
        ax = fig.add_subplot(1, ncols, 1, projection="3d")
        for traj, lab, st in zip((x, y), labels, style):
            ax.plot(*(traj[:, d] for d in dims[:3]), label=lab, **st)
        ax.set_xlabel(f"x{dims[0]}")
        ax.set_ylabel(f"x{dims[1]}")
        ax.set_zlabel(f"x{dims[2]}")
        ax.legend(loc="upper left", fontsize="small")
        col = 2
    for i, (a, b) in enumerate(pairs):
        ax = fig.add_subplot(1, ncols, col + i)
        for traj, lab, st in zip((x, y), labels, style):
            if a == b:
                ax.plot(traj[:, a], label=lab, **st)
            else:
                ax.plot(traj[:, a], traj[:, b], label=lab, **st)
        ax.set_xlabel(f"x{a}" if a != b else "time")
        ax.set_ylabel(f"x{b}")
        if not three_d and i == 0:
            ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return finish(fig, path)
