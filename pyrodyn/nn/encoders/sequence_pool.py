"""Encoder of a whole short recording as one static sample: temporal convolutions, then pooling."""

from __future__ import annotations

from collections.abc import Sequence

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pyrodyn.nn.encoders.base import Encoder


class SequencePoolEncoder(Encoder):
    """``(B, time, channels)`` -> one posterior ``(B, D)`` per recording.

    For data that treat every trial as one static sample (BasicMotions: each 100-step,
    3-channel recording is a sample). Strided 1-D convolutions extract local features, which are
    pooled over the observed steps: with ``bins = 1`` a mean and a max over the whole recording
    (invariant to when an event happens); with ``bins > 1`` additionally the mean in each of
    ``bins`` equal segments, so the code keeps coarse timing (needed to impute another,
    time-aligned modality). Linear heads give ``loc`` and ``scale = softplus(.) + min_scale``.
    Missing steps are excluded from the pooling.

    Args:
        channels: per-step features N.
        latent_dim: D.
        hidden: output channels of the convolutions.
        kernel_size: odd kernel size of every convolution.
        stride: stride of every convolution after the first.
        bins: number of time segments pooled separately (1: global pooling only).
        min_scale: lower bound of the posterior scale.
    """

    def __init__(
        self,
        channels: int,
        latent_dim: int,
        hidden: Sequence[int] = (32, 64),
        kernel_size: int = 5,
        stride: int = 2,
        bins: int = 1,
        min_scale: float = 1e-3,
    ) -> None:
        super().__init__(latent_dim)
        if int(channels) < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        if int(kernel_size) < 1 or int(kernel_size) % 2 == 0:
            raise ValueError(f"kernel_size must be an odd positive int, got {kernel_size}")
        if not hidden:
            raise ValueError("SequencePoolEncoder needs at least one convolution (hidden)")
        if min_scale <= 0:
            raise ValueError(f"min_scale must be positive, got {min_scale}")
        if int(bins) < 1:
            raise ValueError(f"bins must be >= 1, got {bins}")
        self.channels, self.min_scale, self.bins = int(channels), float(min_scale), int(bins)
        self.strides = [1] + [int(stride)] * (len(hidden) - 1)
        convs, width = [], self.channels
        for h, s in zip(hidden, self.strides):
            convs.append(nn.Conv1d(width, int(h), int(kernel_size), s, int(kernel_size) // 2))
            width = int(h)
        self.convs = nn.ModuleList(convs)
        feats = width * (2 + (self.bins if self.bins > 1 else 0))
        self.loc = nn.Linear(feats, self.latent_dim)
        self.scale = nn.Linear(feats, self.latent_dim)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> dist.Normal:
        """``x`` ``(B, T, N)`` (static samples of a recording) -> ``Normal`` ``(B, D)``."""
        if x.dim() != 3 or x.shape[-1] != self.channels:
            raise ValueError(
                f"SequencePoolEncoder expects (batch, time, {self.channels}), got {tuple(x.shape)}"
            )
        observed = (
            torch.ones(x.shape[:2], dtype=x.dtype, device=x.device)
            if mask is None
            else mask.any(-1).to(x.dtype)
        )
        h = (x * observed[..., None]).transpose(1, 2)
        w = observed[:, None, :]
        for conv, s in zip(self.convs, self.strides):
            h = F.elu(conv(h))
            if s > 1:
                w = F.max_pool1d(w, s, s, ceil_mode=True)[..., : h.shape[-1]]
        n = w.sum(-1).clamp_min(1.0)
        mean = (h * w).sum(-1) / n
        peak = h.masked_fill(w == 0, float("-inf")).amax(-1)
        peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
        parts = [mean, peak]
        if self.bins > 1:
            # per-segment means over observed steps (segments may be empty: then 0)
            seg_sum = F.adaptive_avg_pool1d(h * w, self.bins)
            seg_n = F.adaptive_avg_pool1d(w, self.bins).clamp_min(1e-6)
            parts.append((seg_sum / seg_n).flatten(1))
        feats = torch.cat(parts, -1)
        return dist.Normal(self.loc(feats), F.softplus(self.scale(feats)) + self.min_scale)
