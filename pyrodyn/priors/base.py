"""The `LatentPrior` extension point and the context a prior may condition on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule
from torch import Tensor


@dataclass(frozen=True)
class PriorContext:
    """Everything a prior may condition on.

    Attributes:
        num_sequences: batch size B.
        num_steps: T (None for static latents).
        times: time stamps ``(B, T)`` or None.
        lengths: valid length per sequence ``(B,)``; a prior must not extend over padding.
        inputs: external inputs ``(B, T, U)`` or None.
        posteriors: modality -> unimodal posterior (data-dependent priors such as MMVM use them).
        present: modality -> ``(B,)`` bool availability of each modality.
        like: a tensor whose device and dtype new tensors follow.
    """

    num_sequences: int
    num_steps: int | None = None
    times: Tensor | None = None
    lengths: Tensor | None = None
    inputs: Tensor | None = None
    posteriors: Mapping[str, dist.Distribution] | None = None
    present: Mapping[str, Tensor] | None = None
    like: Tensor | None = None

    @property
    def device(self) -> torch.device:
        """Device for new tensors."""
        for t in (self.like, self.times, self.lengths, self.inputs):
            if t is not None:
                return t.device
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype for new tensors."""
        for t in (self.like, self.times, self.inputs):
            if t is not None and t.is_floating_point():
                return t.dtype
        return torch.get_default_dtype()

    def step_mask(self) -> Tensor | None:
        """``(B, T)`` bool of steps inside each sequence (None when there are no lengths)."""
        if self.lengths is None or self.num_steps is None:
            return None
        steps = torch.arange(self.num_steps, device=self.lengths.device)
        return steps < self.lengths[:, None]


class LatentPrior(PyroModule):
    """p(z) of one latent tensor; subclasses implement :meth:`distribution`.

    The distribution has batch shape ``(B,)`` (the sequence plate, opened by the composed model)
    and event shape ``site_shape(ctx)``: ``(T, D)`` for a time series in the time domain,
    ``(D,)`` for a static latent, or any other parameterisation (e.g. Fourier coefficients
    ``(D, F)``) that :meth:`to_latent` maps to ``(B, T, D)``. Priors with several sites override
    :meth:`forward` instead.

    Args:
        latent_dim: D, the number of latent dimensions.
    """

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        if int(latent_dim) < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        self.latent_dim = int(latent_dim)

    def distribution(self, ctx: PriorContext) -> dist.TorchDistribution:
        """The prior over the site value, batch ``(B,)``; required unless forward is overridden."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement distribution(ctx) or override forward(ctx)"
        )

    @property
    def site_name(self) -> str:
        """Full name of the latent site (valid inside a running model or guide)."""
        return self._pyro_get_fullname("z")

    def forward(self, ctx: PriorContext) -> Tensor:
        """Samples the latent site from the prior; returns the latent ``(B, T, D)``/``(B, D)``."""
        value = pyro.sample(self.site_name, self.distribution(ctx))
        return self.to_latent(value, ctx)

    def to_latent(self, value: Tensor, ctx: PriorContext) -> Tensor:
        """Maps a site value to the latent in the time domain (identity by default)."""
        return value

    def sample(self, ctx: PriorContext, sample_shape: torch.Size = torch.Size()) -> Tensor:
        """Draws latents outside of any Pyro trace: ``(*sample_shape, B, T, D)``."""
        return self.to_latent(self.distribution(ctx).sample(sample_shape), ctx)

    def log_prob(self, value: Tensor, ctx: PriorContext) -> Tensor:
        """Log density of site values ``(..., B, *site_shape)`` -> ``(..., B)``."""
        return self.distribution(ctx).log_prob(value)
