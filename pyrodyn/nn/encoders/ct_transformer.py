"""Continuous-time transformer encoder: per-frame tokens mixed by attention over time stamps.

LaDID's recognition network (Lagemann, Lagemann & Mukherjee, ICLR 2024; spec ladid 1.3), itself
MSVI's (Iakovlev et al., ICLR 2023), reimplemented from the maths:

* a per-frame embedding (:mod:`pyrodyn.nn.encoders.frame`) gives one token per time step;
* layer 1 is a pure *temporal window*: uniform weights over the tokens within ``+-window`` time
  units, none beyond (the reference's ``log(eps) * (|dt| / delta_r) ** p`` logits with
  ``p = 1e15``, written as the hard window they amount to);
* the remaining layers are single-head scaled dot-product attention;
* every layer adds a learned relative-time term ``sum_j a_ij W clip((t_j - t_i) / window, -1,
  1)`` (Shaw et al. style, one ``W`` shared by all layers). ``W`` is linear and bias-free, so the
  sum equals ``W (sum_j a_ij c_ij)`` and the ``(B, L, L, d)`` tensor of the reference is never
  built;
* post-LayerNorm residual blocks with a ReLU feed-forward;
* two linear heads give a diagonal Gaussian ``N(gamma_t, sigma_t^2)`` per token.

:func:`aggregate_tokens` turns the context tokens into the instance code's posterior: the mean of
one reparameterised sample per token, ``psi = mean_k (gamma_k + sigma_k eps_k)``, is exactly
``N(mean_k gamma_k, sqrt(sum_k sigma_k^2) / C)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pyrodyn.nn.encoders.base import Encoder
from pyrodyn.nn.encoders.frame import FrameEncoder, frame_encoder_for


def check_times(times: Tensor, valid: Tensor | None = None, *, name: str = "times") -> None:
    """Raises ``ValueError`` unless time stamps ``(B, L)`` strictly increase in every row.

    Only steps where ``valid`` is True (inside the sequence) are checked.
    """
    if times.dim() != 2:
        raise ValueError(f"{name} must be (batch, time), got shape {tuple(times.shape)}")
    if not bool(torch.isfinite(times).all()):
        raise ValueError(f"{name} must be finite, got NaN or inf")
    if times.shape[1] < 2:
        return
    d = torch.diff(times, dim=1)
    if valid is not None:
        d = torch.where(valid[:, 1:], d, torch.ones_like(d))
    bad = d <= 0
    if bool(bad.any()):
        row, col = (int(i) for i in bad.nonzero()[0])
        kind = "duplicate" if float(d[row, col]) == 0 else "unsorted"
        raise ValueError(
            f"{name} must be strictly increasing within every sequence; row {row} has {kind} "
            f"time stamps {float(times[row, col]):.6g} then {float(times[row, col + 1]):.6g} "
            f"at steps {col}, {col + 1}"
        )


def aggregate_tokens(tokens: dist.Normal, valid: Tensor) -> dist.Normal:
    """Law of the mean of one sample per valid token (LaDID's instance code).

    Args:
        tokens: per-token posteriors, batch shape ``(B, L, K)``.
        valid: ``(B, L)`` bool, the tokens averaged (C_b = ``valid[b].sum()`` >= 1).

    Returns:
        ``Normal`` with batch shape ``(B, K)``: ``loc = mean_k gamma_k``,
        ``scale = sqrt(sum_k sigma_k^2) / C_b``.
    """
    if tokens.loc.dim() != 3 or valid.shape != tokens.loc.shape[:2]:
        raise ValueError(
            f"aggregate_tokens expects tokens (B, L, K) and valid (B, L), got "
            f"{tuple(tokens.loc.shape)} and {tuple(valid.shape)}"
        )
    w = valid.to(tokens.loc.dtype).unsqueeze(-1)
    count = w.sum(1)
    if bool((count < 1).any()):
        rows = (count[:, 0] < 1).nonzero().flatten()[:5].tolist()
        raise ValueError(
            f"rows {rows} have no observed context token; the instance code needs at least one"
        )
    loc = (w * tokens.loc).sum(1) / count
    scale = (w * tokens.scale**2).sum(1).sqrt() / count
    return dist.Normal(loc, scale)


class _Block(nn.Module):
    """Post-LN residual attention block; ``kind`` is ``"window"`` or ``"dot"``."""

    def __init__(self, kind: str, dim: int, ff_dim: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "dot":
            self.q = nn.Linear(dim, dim)
            self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, ff_dim), nn.ReLU(), nn.Linear(ff_dim, dim))

    def forward(self, x: Tensor, allowed: Tensor, rel: Tensor, rel_w: nn.Linear) -> Tensor:
        if self.kind == "window":
            a = allowed.to(x.dtype)
            a = a / a.sum(-1, keepdim=True).clamp_min(1.0)
        else:
            logits = self.q(x) @ self.k(x).transpose(1, 2) / math.sqrt(x.shape[-1])
            logits = logits.masked_fill(~allowed, float("-inf"))
            a = torch.softmax(logits, -1)
            # rows without any allowed key (all-missing) would be NaN: give them zero weights
            a = torch.nan_to_num(a, nan=0.0)
        h = a @ self.v(x) + rel_w((a * rel).sum(-1, keepdim=True))
        x = self.norm1(x + self.out(h))
        return self.norm2(x + self.ff(x))


class ContinuousTimeTransformer(Encoder):
    """Per-token Gaussians from a continuous-time transformer over per-frame tokens.

    Args:
        feature_shape: per-step shape of the modality (``(H, W)``/``(C, H, W)`` frames get a
            CNN, vectors an MLP, unless ``frame_encoder`` is given).
        latent_dim: K, size of each token's Gaussian.
        model_dim: d, token width (LaDID: 128).
        num_layers: attention layers, the first a temporal window (LaDID: 4).
        feedforward_dim: width of the feed-forward blocks (default ``2 * model_dim``).
        window: delta_r, half-width of the temporal window and the clipping scale of the
            relative-time term, in data time units (LaDID: 0.45).
        frame_encoder: token embedding ``(..., *feature_shape) -> (..., model_dim)``.
        min_scale: lower bound of each token's scale.
    """

    def __init__(
        self,
        feature_shape: int | Sequence[int],
        latent_dim: int,
        model_dim: int = 128,
        num_layers: int = 4,
        feedforward_dim: int | None = None,
        window: float = 0.45,
        frame_encoder: FrameEncoder | None = None,
        min_scale: float = 1e-4,
    ) -> None:
        super().__init__(latent_dim)
        if int(num_layers) < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if not window > 0:
            raise ValueError(f"window must be positive, got {window}")
        if min_scale <= 0:
            raise ValueError(f"min_scale must be positive, got {min_scale}")
        d = int(model_dim)
        self.frames = (
            frame_encoder if frame_encoder is not None else frame_encoder_for(feature_shape, d)
        )
        if self.frames.output_dim != d:
            raise ValueError(
                f"frame_encoder gives tokens of size {self.frames.output_dim}, expected "
                f"model_dim={d}"
            )
        self.feature_shape = self.frames.feature_shape
        self.model_dim = d
        self.window = float(window)
        self.min_scale = float(min_scale)
        ff = 2 * d if feedforward_dim is None else int(feedforward_dim)
        kinds = ["window"] + ["dot"] * (int(num_layers) - 1)
        self.blocks = nn.ModuleList([_Block(k, d, ff) for k in kinds])
        self.rel = nn.Linear(1, d, bias=False)
        self.loc_head = nn.Linear(d, self.latent_dim)
        self.scale_head = nn.Linear(d, self.latent_dim)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None = None,
        times: Tensor | None = None,
        *,
        context: int | None = None,
    ) -> dist.Normal:
        """Per-token posteriors.

        Args:
            x: ``(B, L, *feature_shape)``.
            mask: bool like ``x`` (or ``(B, L)``); a step with no observed entry is no key.
            times: ``(B, L)`` strictly increasing time stamps (default ``0, 1, ...``).
            context: when given, tokens ``< context`` attend only to tokens ``< context``, so
                their outputs equal those of a run on the first ``context`` steps alone (the
                later tokens see everything).

        Returns:
            ``Normal`` with batch shape ``(B, L, K)``.
        """
        k = len(self.feature_shape)
        if x.dim() != 2 + k or tuple(x.shape[2:]) != self.feature_shape:
            raise ValueError(
                f"ContinuousTimeTransformer expects (batch, time, {self.feature_shape}), got "
                f"{tuple(x.shape)}"
            )
        b, length = x.shape[:2]
        if mask is None:
            step_valid = torch.ones(b, length, dtype=torch.bool, device=x.device)
        else:
            if mask.shape == x.shape:
                x = x * mask.to(x.dtype)
                step_valid = mask.reshape(b, length, -1).any(-1)
            elif mask.shape == (b, length):
                step_valid = mask.bool()
            else:
                raise ValueError(
                    f"mask must be shaped like x {tuple(x.shape)} or (batch, time), got "
                    f"{tuple(mask.shape)}"
                )
        if times is None:
            times = torch.arange(length, device=x.device, dtype=x.dtype).expand(b, length)
        if times.shape != (b, length):
            raise ValueError(f"times must be ({b}, {length}), got {tuple(times.shape)}")
        check_times(times)
        dt = times[:, None, :] - times[:, :, None]  # (B, i, j) = t_j - t_i
        rel = (dt / self.window).clamp(-1.0, 1.0).to(x.dtype)
        allowed = step_valid[:, None, :].expand(b, length, length)
        if context is not None:
            idx = torch.arange(length, device=x.device)
            allowed = allowed & ~((idx[:, None] < context) & (idx[None, :] >= context))
        in_window = allowed & (dt.abs() <= self.window)
        h = self.frames(x)
        for i, block in enumerate(self.blocks):
            h = block(h, in_window if i == 0 else allowed, rel, self.rel)
        loc = self.loc_head(h)
        scale = F.softplus(self.scale_head(h)) + self.min_scale
        return dist.Normal(loc, scale)


__all__ = ["ContinuousTimeTransformer", "aggregate_tokens", "check_times"]
