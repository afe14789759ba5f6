"""In words: did a free-running generation keep the data's attractor, collapse or blow up?"""

from __future__ import annotations

import numpy as np

#: The second half of a generation varies less than this fraction of the data's spread in every
#: dimension: it has settled on a fixed point.
COLLAPSE_RATIO = 0.05
#: The second half of a generation spreads more than this multiple of the data's spread in some
#: dimension: it has left the data's range.
BLOWUP_RATIO = 5.0


#: What :func:`trajectory_status` can say about a generation.
STATUSES = ("ok", "diverged", "collapsed", "blew_up")


def trajectory_status(x_true: np.ndarray, x_gen: np.ndarray) -> str:
    """``"diverged"``, ``"collapsed"``, ``"blew_up"`` or ``"ok"``: a generation against the data.

    Compares the standard deviation per dimension of the second half of ``x_gen`` (after any
    transient) with that of ``x_true``: below :data:`COLLAPSE_RATIO` in every dimension is a
    collapse to a fixed point, above :data:`BLOWUP_RATIO` in any dimension a blow-up; non-finite
    values are a divergence. "ok" says only that none of these happened, not that the
    generation has the data's shape (D_stsp and D_H measure that).

    Args:
        x_true: ``(T, D)`` data (NaN entries are ignored).
        x_gen: ``(T', D)`` generated trajectory.

    Raises:
        ValueError: trajectories that are not ``(time, dims)`` with the same dims.
    """
    true = np.asarray(x_true, dtype=np.float64)
    gen = np.asarray(x_gen, dtype=np.float64)
    if true.ndim != 2 or gen.ndim != 2 or true.shape[1] != gen.shape[1]:
        raise ValueError(
            f"x_true and x_gen must be (time, dims) with the same dims, got {true.shape} and "
            f"{gen.shape}"
        )
    if not np.isfinite(gen).all():
        return "diverged"
    tail = gen[len(gen) // 2 :]
    ratio = tail.std(0) / np.maximum(np.nanstd(true, axis=0), 1e-12)
    if (ratio < COLLAPSE_RATIO).all():
        return "collapsed"
    if (ratio > BLOWUP_RATIO).any():
        return "blew_up"
    return "ok"


def trajectory_verdict(
    x_true: np.ndarray, x_gen: np.ndarray, *, advice: str = "train longer"
) -> str:
    """:func:`trajectory_status` as one sentence, with ``advice`` when the generation failed.

    Args:
        x_true: ``(T, D)`` data (NaN entries are ignored).
        x_gen: ``(T', D)`` generated trajectory.
        advice: what to do about a failed generation, appended to the sentence.

    Raises:
        ValueError: trajectories that are not ``(time, dims)`` with the same dims.
    """
    status = trajectory_status(x_true, x_gen)
    if status == "diverged":
        return f"the generated trajectory diverged (non-finite values): {advice} or lower lr"
    if status == "collapsed":
        return (
            "the generated trajectory collapsed to a fixed point (no variation in its second "
            f"half): the model has not learned the attractor yet; {advice}"
        )
    if status == "blew_up":
        return f"the generated trajectory blew up far beyond the data's range: {advice}"
    return "the generated trajectory stays on an attractor of the data's size"


def failure_note(
    x_true: np.ndarray, x_gen: np.ndarray, *, advice: str = "train longer"
) -> str | None:
    """The verdict of a failed generation (diverged, collapsed, blew up); None when it is ok."""
    if trajectory_status(x_true, x_gen) == "ok":
        return None
    return trajectory_verdict(x_true, x_gen, advice=advice)


__all__ = [
    "BLOWUP_RATIO",
    "COLLAPSE_RATIO",
    "STATUSES",
    "failure_note",
    "trajectory_status",
    "trajectory_verdict",
]
