"""Validation of the arrays a `MultimodalDataset` is built from (the data contract)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor


def check_ranks(data: Mapping[str, np.ndarray], static: bool) -> None:
    """Raises ``ValueError`` for empty, rank-deficient or infinite modality arrays."""
    for m, a in data.items():
        if a.size == 0:
            raise ValueError(f"modality {m!r} is empty (shape {a.shape})")
        if a.ndim < 2:
            what = (
                "(samples, *feature_shape)"
                if static
                else "(trials, time, *feature_shape) or (time, features)"
            )
            raise ValueError(f"modality {m!r} has shape {a.shape}; expected {what}")
        bad = np.isinf(a)
        if bad.any():
            where = tuple(int(i[0]) for i in np.nonzero(bad))
            raise ValueError(
                f"modality {m!r} holds a non-finite value other than NaN "
                f"({a[where]} at index {where}); only NaN may mark missing entries"
            )
    if not static:
        ranks = {m: a.ndim for m, a in data.items()}
        if len({r == 2 for r in ranks.values()}) > 1:
            raise ValueError(
                "either every modality is one recording (time, features) or every modality "
                f"is (trials, time, *feature_shape); got ranks {ranks}"
            )


def check_sizes(data: Mapping[str, np.ndarray], static: bool) -> None:
    """Raises ``ValueError`` when modalities disagree in trials (or samples) or time length."""
    trials = {m: a.shape[0] for m, a in data.items()}
    if len(set(trials.values())) > 1:
        what = "samples" if static else "trials"
        raise ValueError(f"modalities have different numbers of {what}: {trials}")
    if not static:
        steps = {m: a.shape[1] for m, a in data.items()}
        if len(set(steps.values())) > 1:
            raise ValueError(
                f"modalities have different time lengths {steps}; NaN-pad shorter trials to "
                "a common length and give their true lengths in a `lengths` array"
            )


def resolve_lengths(
    data: Mapping[str, Tensor], lengths: np.ndarray | Tensor | None, n: int, t: int
) -> Tensor:
    """Length per trial ``(n,)``: the given ``lengths`` (checked) or the last observed step."""
    if lengths is not None:
        ell = torch.as_tensor(np.asarray(lengths)).long().reshape(-1)
        if ell.shape != (n,):
            raise ValueError(f"lengths must have shape ({n},), got {tuple(ell.shape)}")
        if (ell < 1).any() or (ell > t).any():
            raise ValueError(f"lengths must lie in [1, {t}], got {ell.tolist()}")
        return ell
    # default: up to the last step at which any modality is observed
    observed = torch.zeros(n, t, dtype=torch.bool)
    for x in data.values():
        observed |= ~torch.isnan(x.reshape(n, t, -1)).all(dim=2)
    last = torch.where(observed.any(1), t - observed.flip(1).int().argmax(1), 1)
    return last.long()


def resolve_time(time: np.ndarray | Tensor | None, n: int, t: int, dt: float) -> Tensor:
    """Time stamps ``(n, t)``: the given ``time`` (checked) or regular steps of ``dt``."""
    if time is None:
        return (torch.arange(t, dtype=torch.float64) * dt).float().expand(n, t).clone()
    tt = torch.as_tensor(np.asarray(time, dtype=np.float32))
    if tt.dim() == 1:
        tt = tt.expand(n, -1).clone()
    if tt.shape != (n, t):
        raise ValueError(f"time must be ({t},) or ({n}, {t}), got {tuple(tt.shape)}")
    d = torch.diff(tt, dim=1)
    if (d <= 0).any():
        raise ValueError("time stamps must be strictly increasing within every trial")
    return tt


def as_float_array(name: str, a: np.ndarray | Tensor) -> np.ndarray:
    """A contiguous float32 copy of a numeric array (TypeError naming it otherwise)."""
    if isinstance(a, Tensor):
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if a.dtype == object or not (
        np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.bool_)
    ):
        raise TypeError(f"array {name!r} must be numeric, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float32)


__all__ = ["as_float_array", "check_ranks", "check_sizes", "resolve_lengths", "resolve_time"]
