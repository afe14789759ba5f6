"""Small helpers shared by the likelihood families (private)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def inverse_softplus(x: float) -> float:
    """``y`` with ``softplus(y) = x`` for ``x > 0``."""
    if x <= 0:
        raise ValueError(f"inverse_softplus needs a positive value, got {x!r}")
    return x + math.log(-math.expm1(-x))


def per_feature(
    value: float | Tensor, feature_shape: tuple[int, ...], name: str, *, positive: bool
) -> Tensor:
    """A float tensor of shape ``feature_shape`` from a scalar or a broadcastable tensor."""
    t = torch.as_tensor(value, dtype=torch.get_default_dtype())
    try:
        t = t.expand(feature_shape).clone()
    except RuntimeError as err:
        raise ValueError(
            f"{name} must be a number or broadcast to feature_shape {feature_shape}, got shape "
            f"{tuple(t.shape)}"
        ) from err
    if not bool(torch.isfinite(t).all()) or (positive and not bool((t > 0).all())):
        want = "positive finite" if positive else "finite"
        raise ValueError(f"{name} must hold {want} values, got {value!r}")
    return t


#: Counts from 2**24 on are refused: float32 (the dtype data are stored and scored in) holds every
#: integer up to 2**24 exactly but not 2**24 + 1, so a larger count may already be rounded.
MAX_EXACT_COUNT = 2**24


def is_count(obs: Tensor) -> Tensor:
    """True where ``obs`` is a non-negative integer below :data:`MAX_EXACT_COUNT`."""
    return is_integer(obs) & (obs >= 0) & (obs < MAX_EXACT_COUNT)


COUNT_SUPPORT = "non-negative integer counts below 2**24 = 16777216 (exact in float32)"


def is_integer(obs: Tensor) -> Tensor:
    """True where ``obs`` is finite and integer-valued (works for float and integer dtypes)."""
    if not obs.is_floating_point():
        return torch.ones_like(obs, dtype=torch.bool)
    return torch.isfinite(obs) & (obs == torch.floor(obs))
