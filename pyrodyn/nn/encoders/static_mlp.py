"""MLP encoder of one static sample (a vector or an image), applied per step for sequences."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pyrodyn.nn.encoders.base import Encoder


def _shape(input_shape: int | Sequence[int]) -> tuple[int, ...]:
    shape = (
        (int(input_shape),) if isinstance(input_shape, int) else tuple(int(s) for s in input_shape)
    )
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"input_shape must hold positive sizes, got {input_shape!r}")
    return shape


class StaticMLPEncoder(Encoder):
    """Flattens the trailing ``input_shape`` dims and maps them through an MLP to ``N(loc, scale)``.

    Works on static samples ``(B, *input_shape) -> (B, D)`` and, per step, on sequences
    ``(B, T, *input_shape) -> (B, T, D)``. Missing entries are zeroed; with ``use_mask`` the mask
    is appended to the input so a missing value differs from a zero.

    Args:
        input_shape: per-sample feature shape (an int for vectors, e.g. ``(12, 12, 3)`` images).
        latent_dim: D.
        hidden: hidden-layer widths.
        activation: activation module class.
        use_mask: append the flattened mask to the input.
        min_scale: lower bound of the posterior scale.
    """

    def __init__(
        self,
        input_shape: int | Sequence[int],
        latent_dim: int,
        hidden: Sequence[int] = (128,),
        activation: type[nn.Module] = nn.ELU,
        use_mask: bool = False,
        min_scale: float = 1e-3,
    ) -> None:
        super().__init__(latent_dim)
        if min_scale <= 0:
            raise ValueError(f"min_scale must be positive, got {min_scale}")
        self.input_shape = _shape(input_shape)
        self.use_mask, self.min_scale = bool(use_mask), float(min_scale)
        width = math.prod(self.input_shape) * (2 if self.use_mask else 1)
        layers: list[nn.Module] = []
        for h in hidden:
            layers += [nn.Linear(width, int(h)), activation()]
            width = int(h)
        self.trunk = nn.Sequential(*layers)
        self.loc = nn.Linear(width, self.latent_dim)
        self.scale = nn.Linear(width, self.latent_dim)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> dist.Normal:
        """``(B, [T,] *input_shape)`` -> ``Normal`` with batch ``(B, [T,] D)``."""
        k = len(self.input_shape)
        if x.dim() <= k or tuple(x.shape[-k:]) != self.input_shape:
            raise ValueError(
                f"StaticMLPEncoder expects (batch, [time,] {', '.join(map(str, self.input_shape))})"
                f", got {tuple(x.shape)}"
            )
        lead = x.shape[:-k]
        h = x.reshape(*lead, -1)
        if mask is not None:
            m = mask.reshape(*lead, -1).to(h.dtype)
            h = h * m
            if self.use_mask:
                h = torch.cat([h, m], -1)
        elif self.use_mask:
            h = torch.cat([h, torch.ones_like(h)], -1)
        h = self.trunk(h)
        return dist.Normal(self.loc(h), F.softplus(self.scale(h)) + self.min_scale)
