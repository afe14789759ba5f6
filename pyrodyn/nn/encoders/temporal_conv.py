"""Temporal convolutional encoder (MTF's recognition model, Brenner et al., ICML 2024, spec 1.4)."""

from __future__ import annotations

from collections.abc import Sequence

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.nn.encoders.base import Encoder


def concat_observations(
    batch: MultimodalBatch, modalities: Sequence[str] | None = None
) -> tuple[Tensor, Tensor]:
    """Concatenates modalities along features (early fusion).

    Args:
        batch: a sequence batch.
        modalities: which modalities, in order (default: all of the batch).

    Returns:
        ``x`` ``(B, T, N_total)`` with missing entries 0 and ``mask`` ``(B, T, N_total)`` bool,
        feature dimensions of each modality flattened.
    """
    if batch.static:
        raise ValueError("concat_observations expects sequences, got a static batch")
    mods = batch.modalities if modalities is None else list(modalities)
    b, t = batch.num_sequences, batch.num_steps
    xs, ms = [], []
    unknown = [m for m in mods if m not in batch.obs]
    if unknown:
        raise ValueError(f"unknown modality {unknown[0]!r}; the batch has {batch.modalities}")
    # counts and codes become floats of the continuous modalities' precision (float64 models)
    floats = [batch.obs[m].dtype for m in mods if batch.obs[m].is_floating_point()]
    dtype = max(floats, key=lambda d: torch.finfo(d).bits) if floats else torch.get_default_dtype()
    for m in mods:
        mask = batch.mask[m].reshape(b, t, -1)
        xs.append(batch.obs[m].reshape(b, t, -1).to(dtype) * mask)
        ms.append(mask)
    return torch.cat(xs, -1), torch.cat(ms, -1)


class TemporalConvEncoder(Encoder):
    """Per-step diagonal Gaussian from 1-D convolutions over time, run per sequence.

    Mean branch: convolutions with ``kernel_sizes`` (default 11, 7, 5, 'same' padding, linear as
    in the reference unless ``activation`` is given), so the receptive field is +-10 steps.
    Scale branch: one convolution with the first kernel size; ``scale = softplus(.) + min_scale``.
    Unlike the reference, each sequence is convolved separately (zero padding at its own edges),
    never across the seams between unrelated windows.

    Missing entries are zeroed; with ``use_mask`` the mask is appended as extra input channels so
    the encoder can tell a missing value from a zero.

    Args:
        input_dim: N, number of input features per step.
        latent_dim: D.
        kernel_sizes: odd kernel sizes of the mean branch.
        hidden_dim: channels between mean convolutions (default ``latent_dim``).
        activation: optional nonlinearity between mean convolutions (None: linear filter).
        use_mask: append the mask as input channels.
        min_scale: lower bound of the posterior scale.
    """

    def __init__(
        self,
        input_dim: int,
        latent_dim: int,
        kernel_sizes: Sequence[int] = (11, 7, 5),
        hidden_dim: int | None = None,
        activation: type[nn.Module] | None = None,
        use_mask: bool = True,
        min_scale: float = 1e-3,
    ) -> None:
        super().__init__(latent_dim)
        if int(input_dim) < 1:
            raise ValueError(f"input_dim must be >= 1, got {input_dim}")
        if not kernel_sizes or any(int(k) < 1 or int(k) % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"kernel_sizes must be odd positive ints, got {tuple(kernel_sizes)}")
        if min_scale <= 0:
            raise ValueError(f"min_scale must be positive, got {min_scale}")
        self.input_dim, self.use_mask, self.min_scale = int(input_dim), bool(use_mask), min_scale
        channels = self.input_dim * (2 if use_mask else 1)
        hidden = latent_dim if hidden_dim is None else int(hidden_dim)
        layers: list[nn.Module] = []
        width = channels
        for i, k in enumerate(kernel_sizes):
            out = latent_dim if i == len(kernel_sizes) - 1 else hidden
            layers.append(nn.Conv1d(width, out, int(k), padding=int(k) // 2))
            if activation is not None and i < len(kernel_sizes) - 1:
                layers.append(activation())
            width = out
        self.mean_net = nn.Sequential(*layers)
        k0 = int(kernel_sizes[0])
        self.scale_net = nn.Conv1d(channels, latent_dim, k0, padding=k0 // 2)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> dist.Normal:
        """``x`` ``(B, T, N)``, ``mask`` ``(B, T, N)`` -> ``Normal`` with batch ``(B, T, D)``."""
        if x.dim() != 3 or x.shape[-1] != self.input_dim:
            raise ValueError(
                f"TemporalConvEncoder expects (batch, time, {self.input_dim}), got {tuple(x.shape)}"
            )
        if mask is None:
            mask = torch.ones_like(x, dtype=torch.bool)
        m = mask.to(x.dtype)
        h = x * m
        if self.use_mask:
            h = torch.cat([h, m], -1)
        h = h.transpose(1, 2)  # (B, C, T): convolve along time, each sequence on its own
        loc = self.mean_net(h).transpose(1, 2)
        scale = F.softplus(self.scale_net(h).transpose(1, 2)) + self.min_scale
        return dist.Normal(loc, scale)
