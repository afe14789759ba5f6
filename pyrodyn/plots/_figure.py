"""Figures without pyplot: no global state, no GUI backend, safe in scripts and notebooks."""

from __future__ import annotations

import os

from matplotlib.figure import Figure


def new_figure(width: float = 6.0, height: float = 4.0) -> Figure:
    """A standalone figure (rendered with Agg when saved; display it in Jupyter directly)."""
    return Figure(figsize=(width, height), layout="constrained")


def finish(fig: Figure, path: str | os.PathLike | None = None, dpi: int = 110) -> Figure:
    """Saves ``fig`` as PNG when ``path`` is given (folders are created) and returns it."""
    if path is not None:
        folder = os.path.dirname(os.path.abspath(os.fspath(path)))
        os.makedirs(folder, exist_ok=True)
        fig.savefig(os.fspath(path), dpi=dpi)
    return fig
