"""Decoders: latent ``(..., D)`` -> the parameters a `Likelihood` declares in `param_shapes`."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from pyrodyn.likelihoods.base import Likelihood


class Decoder(nn.Module):
    """Maps latents to likelihood parameters; heads are sized from ``likelihood.param_shapes``.

    Subclasses build a trunk ``(..., D) -> (..., H)``; the base class adds one linear head per
    parameter and reshapes it to ``(..., *param_shape)``.

    Args:
        latent_dim: D.
        likelihood: the likelihood whose parameters are produced.
        trunk: module ``(..., D) -> (..., hidden_dim)`` (identity for a linear decoder).
        hidden_dim: output width of the trunk.
    """

    def __init__(
        self, latent_dim: int, likelihood: Likelihood, trunk: nn.Module, hidden_dim: int
    ) -> None:
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.trunk = trunk
        self.shapes = {k: tuple(v) for k, v in likelihood.param_shapes.items()}
        self.heads = nn.ModuleDict(
            {k: nn.Linear(hidden_dim, math.prod(s)) for k, s in self.shapes.items()}
        )
        for k, head in self.heads.items():
            likelihood.init_decoder_head(k, head.weight, head.bias)

    def forward(self, z: Tensor) -> dict[str, Tensor]:
        """``(..., D)`` -> ``{name: (..., *param_shape)}``."""
        if z.shape[-1] != self.latent_dim:
            raise ValueError(
                f"decoder expects latents with last dim {self.latent_dim}, got {tuple(z.shape)}"
            )
        h = self.trunk(z)
        return {
            k: head(h).reshape(*h.shape[:-1], *self.shapes[k]) for k, head in self.heads.items()
        }


class LinearDecoder(Decoder):
    """Affine map from the latent to every parameter (GLM-style readout)."""

    def __init__(self, latent_dim: int, likelihood: Likelihood) -> None:
        super().__init__(latent_dim, likelihood, nn.Identity(), latent_dim)


class MLPDecoder(Decoder):
    """MLP trunk followed by linear heads.

    Args:
        latent_dim: D.
        likelihood: the likelihood whose parameters are produced.
        hidden: widths of the hidden layers.
        activation: activation module class.
    """

    def __init__(
        self,
        latent_dim: int,
        likelihood: Likelihood,
        hidden: Sequence[int] = (64, 64),
        activation: type[nn.Module] = nn.ELU,
    ) -> None:
        if not hidden:
            raise ValueError("MLPDecoder needs at least one hidden layer; use LinearDecoder")
        layers: list[nn.Module] = []
        width = latent_dim
        for h in hidden:
            layers += [nn.Linear(width, int(h)), activation()]
            width = int(h)
        super().__init__(latent_dim, likelihood, nn.Sequential(*layers), width)


__all__ = ["Decoder", "LinearDecoder", "MLPDecoder"]
