"""Gaussian likelihood with a fixed, learned or decoded diagonal scale."""

from __future__ import annotations

from collections.abc import Mapping

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.distributions import constraints
from pyro.nn import PyroParam
from torch import Tensor

from pyrodyn.likelihoods._util import inverse_softplus, per_feature
from pyrodyn.likelihoods.base import Likelihood


class Gaussian(Likelihood):
    """``x ~ Normal(loc, scale)`` element-wise (a diagonal covariance).

    The decoder produces ``loc``. The scale is, in order of precedence: produced by the decoder
    (``scale_from_decoder``; ``scale = softplus(raw) + min_scale``), learned per feature (a
    positive ``PyroParam``, initialised at ``scale`` or 1), or fixed (``learn_scale=False``; MTF
    fixes it to 1, specs/mtf.md 1.3).

    Args:
        feature_shape: per-step observation shape.
        scale: initial (or fixed) scale, a number or a tensor broadcastable to ``feature_shape``;
            default 1.
        learn_scale: learn the per-feature scale.
        scale_from_decoder: the decoder produces the scale (param ``"scale"``, pre-softplus).
        min_scale: floor added to the decoded scale so it stays positive in floating point.
        name: modality name for error messages.
    """

    continuous = True

    def __init__(
        self,
        feature_shape: int | tuple[int, ...],
        scale: float | Tensor | None = None,
        learn_scale: bool = True,
        scale_from_decoder: bool = False,
        *,
        min_scale: float = 1e-6,
        name: str | None = None,
    ) -> None:
        super().__init__(feature_shape, name=name)
        self.scale_from_decoder = bool(scale_from_decoder)
        self.learn_scale = bool(learn_scale) and not self.scale_from_decoder
        self.min_scale = float(min_scale)
        if self.scale_from_decoder:
            if scale is not None and not isinstance(scale, (int, float)):
                raise ValueError("with scale_from_decoder, scale must be None or a number")
            self._init_scale = 1.0 if scale is None else float(scale)
            return
        init = per_feature(
            1.0 if scale is None else scale, self.feature_shape, "scale", positive=True
        )
        if self.learn_scale:
            self.scale = PyroParam(init, constraint=constraints.positive)
        else:
            self.register_buffer("scale", init)

    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """``{"loc": feature_shape}`` plus ``"scale"`` when the decoder produces it."""
        shapes = {"loc": self.feature_shape}
        if self.scale_from_decoder:
            shapes["scale"] = self.feature_shape
        return shapes

    def distribution(self, params: Mapping[str, Tensor]) -> dist.Normal:
        """``Normal(loc, scale)`` with batch shape ``(*batch, *feature_shape)``."""
        loc = params["loc"]
        if self.scale_from_decoder:
            scale = F.softplus(params["scale"]) + self.min_scale
        else:
            scale = self.scale
        loc, scale = torch.broadcast_tensors(loc, scale)
        return dist.Normal(loc, scale)

    def init_decoder_head(self, name: str, weight: Tensor, bias: Tensor | None) -> None:
        """Starts a decoded scale at its initial value (``softplus(bias) = scale``)."""
        if name == "scale" and bias is not None:
            with torch.no_grad():
                weight.mul_(0.01)
                bias.fill_(inverse_softplus(self._init_scale))
