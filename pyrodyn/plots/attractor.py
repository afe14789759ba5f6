"""True versus generated attractor: two panels on the same ranges, with a verdict in words."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure

from pyrodyn.plots._figure import finish, new_figure

#: Points of each trajectory drawn in state space (more only blacken the panel).
MAX_POINTS = 5000


def as_trajectory(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` as a float ``(time, dims)`` array (a 1-D series becomes one column)."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be (time, dims), got shape {a.shape}")
    return a


def axis_labels(num_dims: int, names: Sequence[str] | None, unit: str | None) -> list[str]:
    """``name (unit)`` for each dimension (names default to ``x0, x1, ...``)."""
    names = [f"x{d}" for d in range(num_dims)] if names is None else [str(n) for n in names]
    if len(names) != num_dims:
        raise ValueError(f"names has {len(names)} entries for {num_dims}-dimensional trajectories")
    return [f"{n} ({unit})" if unit else n for n in names]


def shared_limits(*trajectories: np.ndarray, pad: float = 0.05) -> np.ndarray:
    """``(D, 2)`` lower and upper limit per dimension over the finite rows of all trajectories."""
    rows = [t[np.isfinite(t).all(axis=1)] for t in trajectories]
    rows = [r for r in rows if len(r)]
    if not rows:
        raise ValueError("no finite values to plot")
    both = np.concatenate(rows)
    lo, hi = both.min(axis=0), both.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.stack([lo - pad * span, hi + pad * span], axis=1)


def _draw(ax: Axes, traj: np.ndarray, dims: tuple[int, ...], style: dict, mark_end: bool) -> None:
    finite = traj[np.isfinite(traj[:, list(dims)]).all(axis=1)]
    if len(dims) == 1:
        ax.plot(np.arange(len(traj)), traj[:, dims[0]], **style)
    else:
        ax.plot(*(finite[:, d] for d in dims), **style)
    if mark_end and len(finite):
        end = finite[-1]
        at = (len(traj) - 1, end[dims[0]]) if len(dims) == 1 else tuple(end[d] for d in dims)
        ax.plot(*([v] for v in at), ls="none", marker="o", ms=5, color="k", label="last state")


def _panel(
    ax: Axes,
    drawn: Sequence[tuple[np.ndarray, dict, bool]],
    dims: tuple[int, ...],
    limits: np.ndarray,
    text: Sequence[str],
    steps: int,
) -> None:
    """Draws trajectories ``(traj, style, mark_end)`` into ``ax`` on ``limits``, labelled."""
    for traj, style, mark_end in drawn:
        _draw(ax, traj, dims, style, mark_end)
    if len(dims) == 1:
        ax.set_xlim(0, steps - 1)
        ax.set_ylim(*limits[0])
        ax.set_xlabel("time (steps)")
        ax.set_ylabel(text[dims[0]])
        return
    ax.set_xlim(*limits[0])
    ax.set_ylim(*limits[1])
    ax.set_xlabel(text[dims[0]])
    ax.set_ylabel(text[dims[1]])
    if len(dims) == 3:
        ax.set_zlim(*limits[2])
        ax.set_zlabel(text[dims[2]])
        # a 3-D box fills its axes; shrink it so the tick and axis labels stay inside them
        ax.set_box_aspect(None, zoom=0.8)
        for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
            axis.label.set_fontsize("small")
        ax.tick_params(labelsize="small", pad=0)


def draw_attractor_panels(
    fig: Figure | SubFigure,
    true: np.ndarray,
    generated: np.ndarray,
    *,
    dims: Sequence[int] | None = None,
    labels: tuple[str, str] = ("observed", "generated"),
    names: Sequence[str] | None = None,
    unit: str | None = None,
    note: str | None = None,
    overlay: bool = False,
) -> list[Axes]:
    """Draws ``true`` and ``generated`` side by side on the same ranges into ``fig``.

    Three or more ``dims``: 3-D views of the first three; two: the plane; one: the series against
    the step. A third panel holds ``note`` in words when given, else (with ``overlay``) both
    trajectories in the plane of the first two dims. Returns the axes of the plots.

    Raises:
        ValueError: trajectories that are not ``(time, dims)`` with the same dims, dims out of
            range, a wrong number of names, or no finite values at all.
    """
    x, y = as_trajectory(true, "true"), as_trajectory(generated, "generated")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"true and generated need the same dims, got {x.shape} and {y.shape}")
    dims = tuple(range(min(3, x.shape[1]))) if dims is None else tuple(int(d) for d in dims)
    if not dims or min(dims) < 0 or max(dims) >= x.shape[1]:
        raise ValueError(f"dims {dims} out of range for {x.shape[1]}-dimensional trajectories")
    dims = dims[:3]
    text = axis_labels(x.shape[1], names, unit)
    x, y = x[:MAX_POINTS], y[:MAX_POINTS]
    limits = shared_limits(x[:, list(dims)], y[:, list(dims)])
    steps = max(len(x), len(y))
    ncols = 2 + int(note is not None or overlay)
    styles = ({"lw": 0.5, "color": "0.25"}, {"lw": 0.5, "color": "tab:red"})
    axes: list[Axes] = []
    for i, (traj, label, style) in enumerate(zip((x, y), labels, styles)):
        ax = fig.add_subplot(1, ncols, i + 1, projection="3d" if len(dims) == 3 else None)
        _panel(ax, [(traj, style, i == 1)], dims, limits, text, steps)
        ax.set_title(label, fontsize="medium")
        if i == 1 and ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper right", fontsize="small")
        axes.append(ax)
    if note is not None:
        ax = fig.add_subplot(1, ncols, ncols)
        ax.axis("off")
        ax.text(0.05, 0.5, textwrap.fill(note, 34), va="center", ha="left", fontsize="medium")
    elif overlay:
        ax = fig.add_subplot(1, ncols, ncols)
        both = [(x, {**styles[0], "label": labels[0]}, False)]
        both.append((y, {**styles[1], "alpha": 0.8, "label": labels[1]}, False))
        _panel(ax, both, dims[:2], limits[:2], text, steps)
        ax.set_title("both" if len(dims) == 1 else "both, first two dims", fontsize="medium")
        ax.legend(loc="upper right", fontsize="small")
        axes.append(ax)
    return axes


def plot_attractor(
    true: np.ndarray,
    generated: np.ndarray,
    *,
    dims: Sequence[int] | None = None,
    labels: tuple[str, str] = ("observed", "generated"),
    names: Sequence[str] | None = None,
    unit: str | None = None,
    note: str | None = None,
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Trajectories ``(T, N)`` and ``(T', N)`` in two panels on the same ranges.

    With 3 or more plotted dims each panel is a 3-D view of the first three of ``dims``; with two
    the plane, with one the series against the step. The last state of the generated trajectory
    is marked (a collapse to a fixed point shows as that dot). At most :data:`MAX_POINTS` steps of
    each are drawn.

    Args:
        true: reference trajectory ``(T, N)``.
        generated: model trajectory ``(T', N)``.
        dims: which dims to plot (default the first three).
        labels: titles of the two panels.
        names: name of each of the ``N`` dims for the axis labels (default ``x0, x1, ...``).
        unit: unit of the values, appended to the axis labels (e.g. ``"z-scored"``).
        note: a sentence shown beside the panels, e.g. the verdict of
            :func:`pyrodyn.diagnostics.trajectory.trajectory_verdict`.
        title: figure title.
        path: save the figure as PNG here.
    """
    ncols = 2 + int(note is not None)
    fig = new_figure(3.9 * ncols, 3.8)
    draw_attractor_panels(
        fig, true, generated, dims=dims, labels=labels, names=names, unit=unit, note=note
    )
    if title:
        fig.suptitle(title)
    return finish(fig, path)


__all__ = ["MAX_POINTS", "draw_attractor_panels", "plot_attractor", "shared_limits"]
