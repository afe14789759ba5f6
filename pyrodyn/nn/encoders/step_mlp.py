"""Per-step MLP encoder with an optional temporal convolution head (works for any trial length)."""

from __future__ import annotations

from collections.abc import Sequence

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pyrodyn.nn.encoders.base import Encoder


class StepMLPEncoder(Encoder):
    """MLP applied to every time step, then a 1-D convolution over time to ``(loc, scale)``.

    MM-GPVAE's recognition networks are per-bin MLPs (Gondur et al., ICLR 2024); temporal context
    comes from the GP prior the per-step outputs are combined with (pseudo-observations), so no
    layer depends on the trial length. ``kernel_size > 1`` adds local context in the head.

    Args:
        input_dim: N, flattened features per step.
        latent_dim: D.
        hidden: widths of the per-step MLP.
        kernel_size: odd width of the temporal convolution of the output heads (1: per step).
        activation: activation class.
        use_mask: append the mask as inputs (tells a missing value from a zero).
        min_scale: lower bound of the posterior scale.
    """

    def __init__(
        self,
        input_dim: int,
        latent_dim: int,
        hidden: Sequence[int] = (64, 32),
        kernel_size: int = 1,
        activation: type[nn.Module] = nn.ELU,
        use_mask: bool = True,
        min_scale: float = 1e-3,
    ) -> None:
        super().__init__(latent_dim)
        if int(input_dim) < 1:
            raise ValueError(f"input_dim must be >= 1, got {input_dim}")
        if int(kernel_size) < 1 or int(kernel_size) % 2 == 0:
            raise ValueError(f"kernel_size must be an odd positive int, got {kernel_size}")
        if min_scale <= 0:
            raise ValueError(f"min_scale must be positive, got {min_scale}")
        self.input_dim, self.use_mask, self.min_scale = int(input_dim), bool(use_mask), min_scale
        layers: list[nn.Module] = []
        width = self.input_dim * (2 if use_mask else 1)
        for h in hidden:
            layers += [nn.Linear(width, int(h)), activation()]
            width = int(h)
        self.trunk = nn.Sequential(*layers)
        k = int(kernel_size)
        self.head = nn.Conv1d(width, 2 * self.latent_dim, k, padding=k // 2)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> dist.Normal:
        """``x`` ``(B, T, *feature_shape)`` -> ``Normal`` with batch ``(B, T, D)``."""
        if x.dim() < 3:
            raise ValueError(
                f"StepMLPEncoder expects (batch, time, features), got {tuple(x.shape)}"
            )
        b, t = x.shape[:2]
        x = x.reshape(b, t, -1)
        if x.shape[-1] != self.input_dim:
            raise ValueError(
                f"StepMLPEncoder expects {self.input_dim} features per step, got {x.shape[-1]}"
            )
        m = torch.ones_like(x) if mask is None else mask.reshape(b, t, -1).to(x.dtype)
        h = x * m
        if self.use_mask:
            h = torch.cat([h, m], -1)
        h = self.trunk(h)
        out = self.head(h.transpose(1, 2)).transpose(1, 2)
        loc, raw = out.split(self.latent_dim, dim=-1)
        return dist.Normal(loc, F.softplus(raw) + self.min_scale)


__all__ = ["StepMLPEncoder"]
