"""Transposed-CNN decoder for frame modalities (mirror of the frame CNN encoder).

LaDID's / MSVI's frame decoder (Lagemann et al., ICLR 2024; spec ladid 1.5) reimplemented:
``Linear(D -> 8c * H/16 * W/16)``, reshape, four ``ConvTranspose2d(2x2, stride 2)`` blocks
``8c -> 4c -> 2c -> c -> c`` each followed by ReLU and a normalisation, then one 5x5 convolution
per likelihood parameter. Unlike the reference (sigmoid mean, fixed scale 1e-3) it produces
whatever the likelihood declares in ``param_shapes`` and leaves the link to the likelihood.
"""

from __future__ import annotations

from torch import Tensor, nn

from pyrodyn.likelihoods.base import Likelihood
from pyrodyn.nn.decoders import Decoder
from pyrodyn.nn.encoders.frame import _norm, check_frame_shape


class FrameCNNDecoder(Decoder):
    """Latents ``(..., D)`` -> frame parameters ``(..., *feature_shape)`` per parameter.

    Args:
        latent_dim: D.
        likelihood: a likelihood whose parameters are frame-shaped ``(H, W)`` or ``(C, H, W)``
            (H and W multiples of 16).
        channels: c (LaDID: 8).
        norm: ``"batch"`` (LaDID), ``"group"`` or None.
    """

    def __init__(
        self,
        latent_dim: int,
        likelihood: Likelihood,
        channels: int = 8,
        norm: str | None = "batch",
    ) -> None:
        c = int(channels)
        if c < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        shapes = {k: tuple(v) for k, v in likelihood.param_shapes.items()}
        geo = {k: check_frame_shape(s, "FrameCNNDecoder") for k, s in shapes.items()}
        hw = {g[1:] for g in geo.values()}
        if len(hw) != 1:
            raise ValueError(f"FrameCNNDecoder needs one frame size for all params, got {shapes}")
        h, w = hw.pop()
        trunk = nn.Identity()
        super().__init__(latent_dim, likelihood, trunk, 1)
        self.base = (8 * c, h // 16, w // 16)
        self.proj = nn.Linear(int(latent_dim), 8 * c * (h // 16) * (w // 16))
        layers: list[nn.Module] = []
        for cin, cout in [(8 * c, 4 * c), (4 * c, 2 * c), (2 * c, c), (c, c)]:
            layers += [nn.ConvTranspose2d(cin, cout, 2, stride=2), nn.ReLU(), _norm(norm, cout)]
        self.deconv = nn.Sequential(*layers)
        self.heads = nn.ModuleDict({k: nn.Conv2d(c, g[0], 5, padding=2) for k, g in geo.items()})
        for k, head in self.heads.items():
            likelihood.init_decoder_head(k, head.weight, head.bias)

    def forward(self, z: Tensor) -> dict[str, Tensor]:
        """``(..., D)`` -> ``{name: (..., *param_shape)}``."""
        if z.shape[-1] != self.latent_dim:
            raise ValueError(
                f"decoder expects latents with last dim {self.latent_dim}, got {tuple(z.shape)}"
            )
        lead = z.shape[:-1]
        h = self.proj(z.reshape(-1, self.latent_dim)).reshape(-1, *self.base)
        h = self.deconv(h)
        return {k: head(h).reshape(*lead, *self.shapes[k]) for k, head in self.heads.items()}


__all__ = ["FrameCNNDecoder"]
