"""LaDID's multiple-shooting windows and the random parts of its training recipe.

Training cuts every trajectory into windows of ``context + horizon (+ overlap)`` steps that start
``horizon`` apart (spec ladid 1.8); each window is one example with its own instance code. The
objective (:class:`~pyrodyn.models.ladid.objective.LaDIDObjective`) draws, once per loss
evaluation and before model and guide run, the windows of each sequence, optionally the start of
the stretch the constants encoders read (``constants_crop``) and the subset of frames decoded
per window (``frames_per_window``); these helpers are those draws.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pyrodyn.data.batch import MultimodalBatch


def shooting_starts(num_steps: int, context: int, horizon: int, overlap: int = 0) -> Tensor:
    """Start indices of LaDID's multiple-shooting windows (spec ladid 1.8).

    Each window has ``context + horizon + overlap`` steps; consecutive windows start ``horizon``
    apart, so the last ``overlap`` query steps of one window are the first ``overlap`` query
    steps of the next.

    Args:
        num_steps: T, the trajectory length.
        context: C >= 1 context steps.
        horizon: q >= 1 query steps.
        overlap: o >= 0 extra query steps shared with the next window.

    Returns:
        ``(n,)`` long, ``0, q, 2q, ...`` while the window fits.
    """
    context, horizon, overlap = int(context), int(horizon), int(overlap)
    if context < 1 or horizon < 1 or overlap < 0:
        raise ValueError(
            f"need context >= 1, horizon >= 1, overlap >= 0; got {context}, {horizon}, {overlap}"
        )
    length = context + horizon + overlap
    if length > num_steps:
        raise ValueError(
            f"a window of context {context} + horizon {horizon} + overlap {overlap} = {length} "
            f"steps does not fit in trajectories of {num_steps} steps; use longer trajectories "
            "(fit's `window`) or a shorter horizon/context"
        )
    return torch.arange(0, num_steps - length + 1, horizon)


def take_steps(batch: MultimodalBatch, rows: Tensor, steps: Tensor) -> MultimodalBatch:
    """``x[rows, steps]`` of every per-step array: rows ``(N, 1)``, steps ``(N, S)``.

    Per-sequence extras follow their row; ``observed`` is kept (a window of a batch without
    observations is one too).
    """
    t = batch.num_steps
    r = rows[:, 0]

    def take(x: Tensor) -> Tensor:
        return x[rows, steps]

    extras = {
        key: take(v) if v.dim() >= 2 and v.shape[1] == t else v[r]
        for key, v in batch.extras.items()
    }
    return MultimodalBatch(
        obs={m: take(x) for m, x in batch.obs.items()},
        mask={m: take(x) for m, x in batch.mask.items()},
        times=take(batch.times),
        lengths=torch.full((r.numel(),), steps.shape[1], dtype=torch.long, device=r.device),
        inputs=None if batch.inputs is None else take(batch.inputs),
        extras=extras,
        index=None if batch.index is None else batch.index[r],
        observed=batch.observed,
    )


def cut_windows(
    batch: MultimodalBatch,
    context: int,
    horizon: float | int | None = None,
    *,
    overlap: int = 0,
    windows_per_sequence: int = 2,
    pair_windows: bool = False,
) -> tuple[MultimodalBatch, Tensor | None]:
    """Cuts a batch into multiple-shooting windows (each window becomes a row).

    Args:
        batch: sequences ``(B, T, ...)``; the shortest valid length bounds the windows.
        context: C, context steps per window.
        horizon: q, query steps per window (None: everything after the context, one window per
            sequence).
        overlap: o, query steps shared by consecutive windows.
        windows_per_sequence: k, windows drawn per sequence (without replacement; all of them
            when fewer fit).
        pair_windows: draw ``max(k, 2)`` *consecutive* windows per sequence and return the pairs
            of consecutive rows (for ``reg.overlap``; needs ``overlap > 0``).

    Returns:
        The window batch ``(B * k, C + q + o, ...)`` and, with ``pair_windows`` and at least two
        windows per sequence, ``(B * (k - 1), 2)`` row pairs ``(b, b + 1)`` (else None).
    """
    if batch.static:
        raise ValueError("LaDID expects sequences, got a static batch")
    usable = int(batch.valid_steps().sum(1).min())
    c, o = int(context), int(overlap)
    if usable <= c:
        raise ValueError(
            f"context of {c} frames is not shorter than the trajectory ({usable} valid "
            "steps); LaDID needs frames after the context to predict"
        )
    q = usable - c - o if horizon is None else round(float(horizon))
    starts = shooting_starts(usable, c, q, o)
    n = starts.numel()
    b = batch.num_sequences
    k = min(int(windows_per_sequence), n)
    pairs = None
    if pair_windows and o > 0 and n >= 2:
        k = max(k, 2)
        first = torch.randint(0, n - k + 1, (b,))
        choice = first[:, None] + torch.arange(k)
        base = torch.arange(b)[:, None] * k + torch.arange(k - 1)
        pairs = torch.stack([base.reshape(-1), base.reshape(-1) + 1], 1)
    elif k < n:
        choice = torch.rand(b, n).argsort(1)[:, :k].sort(1).values
    else:
        choice = torch.arange(n).expand(b, n)
    rows = torch.arange(b)[:, None].expand(b, k).reshape(-1)
    start = starts[choice.reshape(-1)]
    steps = start[:, None] + torch.arange(c + q + o)
    dev = batch.device
    return take_steps(batch, rows.to(dev)[:, None], steps.to(dev)), pairs


def draw_crops(windows: MultimodalBatch, context: int) -> Tensor:
    """First step ``(B,)`` of a random ``context``-step stretch of each window (constants crop)."""
    span = windows.num_steps - int(context) + 1
    return torch.randint(0, span, (windows.num_sequences,), device=windows.device)


def draw_frames(windows: MultimodalBatch, frames_per_window: int | None) -> Tensor | None:
    """Sorted step indices ``(B, S)`` of S frames per window, uniformly without replacement.

    None when ``frames_per_window`` is None or covers the whole window (every frame is scored).
    """
    if frames_per_window is None or int(frames_per_window) >= windows.num_steps:
        return None
    draw = torch.rand(windows.num_sequences, windows.num_steps, device=windows.device)
    return draw.argsort(1)[:, : int(frames_per_window)].sort(1).values


def crop_index(
    batch: MultimodalBatch, context: int, start: Tensor | None
) -> tuple[slice | Tensor, slice | Tensor]:
    """Row and column indices of the ``context`` frames the constants encoders read.

    The context itself without ``start``; else ``context`` steps from ``start`` ``(B,)`` on.
    """
    if start is None:
        return slice(None), slice(0, int(context))
    dev = batch.device
    rows = torch.arange(batch.num_sequences, device=dev)[:, None]
    cols = start.to(dev)[:, None] + torch.arange(int(context), device=dev)
    return rows, cols


def step_subset(batch: MultimodalBatch, frames: Tensor) -> tuple[Tensor, MultimodalBatch]:
    """Rows index ``(B, 1)`` and the batch restricted to ``frames`` ``(B, S)`` per row."""
    rows = torch.arange(batch.num_sequences, device=batch.device)[:, None]
    return rows, take_steps(batch, rows, frames.to(batch.device))


__all__ = [
    "crop_index",
    "cut_windows",
    "draw_crops",
    "draw_frames",
    "shooting_starts",
    "step_subset",
    "take_steps",
]
