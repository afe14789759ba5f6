"""The `Encoder` extension point: observations of one or more modalities -> diagonal Gaussian."""

from __future__ import annotations

from abc import abstractmethod

import pyro.distributions as dist
from torch import Tensor, nn


class Encoder(nn.Module):
    """Amortised posterior; subclasses implement :meth:`forward`.

    Args:
        latent_dim: D, the size of the posterior it returns.
    """

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        if int(latent_dim) < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        self.latent_dim = int(latent_dim)

    @abstractmethod
    def forward(self, x: Tensor, mask: Tensor | None = None) -> dist.Normal:
        """Posterior for observations ``x``.

        Args:
            x: ``(B, T, *feature_shape)`` (``(B, *feature_shape)`` for static encoders); missing
                entries hold a placeholder.
            mask: bool of the same shape, True where observed (None: all observed).

        Returns:
            A ``Normal`` with batch shape ``(B, T, D)`` (``(B, D)`` static).
        """
