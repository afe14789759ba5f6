"""Per-frame feature extractors: a CNN for images, an MLP for vectors (LaDID's token embedding).

Each maps one observation (one time step of one modality) to a ``d``-dimensional token; a
temporal model (e.g. :class:`~pyrodyn.nn.encoders.ct_transformer.ContinuousTimeTransformer`)
then mixes the tokens over time. The CNN follows LaDID's frame encoder (Lagemann et al., ICLR
2024; spec ladid 1.3): four stride-2 convolutions (5x5, 5x5, 5x5, 2x2; ``c, 2c, 4c, 8c``
channels), each followed by ReLU and a normalisation, then one linear layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

#: Frame sides the CNN takes are positive multiples of this (four stride-2 halvings).
CNN_SIDE_MULTIPLE = 16


class FrameEncoder(nn.Module):
    """Maps observations ``(..., *feature_shape)`` to tokens ``(..., output_dim)``.

    Args:
        feature_shape: per-step shape of one observation.
        output_dim: d, the token size.
    """

    def __init__(self, feature_shape: int | Sequence[int], output_dim: int) -> None:
        super().__init__()
        shape = (feature_shape,) if isinstance(feature_shape, int) else tuple(feature_shape)
        if not shape or any(int(s) < 1 for s in shape):
            raise ValueError(f"feature_shape must hold positive sizes, got {feature_shape!r}")
        if int(output_dim) < 1:
            raise ValueError(f"output_dim must be >= 1, got {output_dim}")
        self.feature_shape = tuple(int(s) for s in shape)
        self.output_dim = int(output_dim)

    def _split(self, x: Tensor) -> tuple[Tensor, tuple[int, ...]]:
        k = len(self.feature_shape)
        if tuple(x.shape[x.dim() - k :]) != self.feature_shape:
            raise ValueError(
                f"{type(self).__name__} expects observations (..., {self.feature_shape}), got "
                f"{tuple(x.shape)}"
            )
        lead = tuple(x.shape[: x.dim() - k])
        return x.reshape(-1, *self.feature_shape), lead


class FrameMLP(FrameEncoder):
    """MLP token embedding for vector (or any flattened) observations.

    Args:
        feature_shape: per-step shape (flattened before the first layer).
        output_dim: d.
        hidden: hidden widths (empty: a single linear layer).
        activation: activation module class.
    """

    def __init__(
        self,
        feature_shape: int | Sequence[int],
        output_dim: int = 64,
        hidden: Sequence[int] = (64,),
        activation: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__(feature_shape, output_dim)
        layers: list[nn.Module] = []
        width = math.prod(self.feature_shape)
        for h in hidden:
            layers += [nn.Linear(width, int(h)), activation()]
            width = int(h)
        layers.append(nn.Linear(width, self.output_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """``(..., *feature_shape)`` -> ``(..., output_dim)``."""
        flat, lead = self._split(x)
        return self.net(flat.reshape(flat.shape[0], -1)).reshape(*lead, self.output_dim)


def check_frame_shape(feature_shape: Sequence[int], who: str = "FrameCNN") -> tuple[int, int, int]:
    """``(H, W)`` or ``(C, H, W)`` -> ``(C, H, W)``, raising when the CNN cannot take the size."""
    shape = tuple(int(s) for s in feature_shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3:
        raise ValueError(
            f"{who} takes frames shaped (height, width) or (channels, height, width), got "
            f"feature shape {tuple(feature_shape)}; use FrameMLP for vectors"
        )
    c, h, w = shape
    bad = [s for s in (h, w) if s < CNN_SIDE_MULTIPLE or s % CNN_SIDE_MULTIPLE]
    if bad or c < 1:
        m = CNN_SIDE_MULTIPLE
        raise ValueError(
            f"{who} cannot take frames of size {h}x{w}: height and width must be positive "
            f"multiples of {m} (its four stride-2 layers halve the frame four times), e.g. "
            f"{m}, {2 * m}, {3 * m}, {4 * m}, {8 * m} (16x16, 32x32, 48x48, 64x64, 128x128, "
            "or mixed such as 32x64); resize or pad the frames"
        )
    return c, h, w


def _norm(kind: str | None, channels: int) -> nn.Module:
    if kind is None or kind == "none":
        return nn.Identity()
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(min(4, channels), channels)
    raise ValueError(f"norm must be 'batch', 'group' or None, got {kind!r}")


class FrameCNN(FrameEncoder):
    """LaDID/MSVI frame CNN: 4 stride-2 conv blocks, flatten, linear to d.

    Args:
        feature_shape: ``(H, W)`` or ``(C, H, W)``; H and W positive multiples of 16.
        output_dim: d (LaDID: 128).
        channels: c, channels of the first block (LaDID: 8); blocks use c, 2c, 4c, 8c.
        norm: ``"batch"`` (LaDID), ``"group"`` or None, after each ReLU.
    """

    def __init__(
        self,
        feature_shape: Sequence[int],
        output_dim: int = 128,
        channels: int = 8,
        norm: str | None = "batch",
    ) -> None:
        c_in, h, w = check_frame_shape(feature_shape)
        super().__init__(feature_shape, output_dim)
        if int(channels) < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        c = int(channels)
        specs = [(c_in, c, 5, 2), (c, 2 * c, 5, 2), (2 * c, 4 * c, 5, 2), (4 * c, 8 * c, 2, 0)]
        layers: list[nn.Module] = []
        for cin, cout, k, pad in specs:
            layers += [nn.Conv2d(cin, cout, k, stride=2, padding=pad), nn.ReLU(), _norm(norm, cout)]
        self.conv = nn.Sequential(*layers)
        self.in_channels = c_in
        self.proj = nn.Linear(8 * c * (h // 16) * (w // 16), self.output_dim)

    def forward(self, x: Tensor) -> Tensor:
        """``(..., *feature_shape)`` -> ``(..., output_dim)``."""
        flat, lead = self._split(x)
        c_in, h, w = check_frame_shape(self.feature_shape)
        h = self.conv(flat.reshape(-1, c_in, h, w))
        return self.proj(h.flatten(1)).reshape(*lead, self.output_dim)


def frame_encoder_for(
    feature_shape: int | Sequence[int], output_dim: int, **kwargs: object
) -> FrameEncoder:
    """The default token embedding of a modality: CNN for 2-D/3-D frames, MLP for vectors."""
    shape = (feature_shape,) if isinstance(feature_shape, int) else tuple(feature_shape)
    if len(shape) >= 2:
        return FrameCNN(shape, output_dim, **kwargs)  # type: ignore[arg-type]
    return FrameMLP(shape, output_dim, **kwargs)  # type: ignore[arg-type]


__all__ = ["CNN_SIDE_MULTIPLE", "FrameCNN", "FrameEncoder", "FrameMLP", "frame_encoder_for"]
