"""Laplace likelihood with a fixed or learned per-feature scale."""

from __future__ import annotations

from collections.abc import Mapping

import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from pyro.nn import PyroParam
from torch import Tensor

from pyrodyn.likelihoods._util import per_feature
from pyrodyn.likelihoods.base import Likelihood


class Laplace(Likelihood):
    """``x ~ Laplace(loc, scale)`` element-wise (robust to outliers; the MMVM image likelihood).

    The decoder produces ``loc``; the scale is fixed at ``scale`` (0.75 by default, the value used
    for images by the MMVM VAE, Sutter et al., NeurIPS 2024) or learned per feature.

    Args:
        feature_shape: per-step observation shape (e.g. ``(3, 32, 32)`` for images).
        scale: fixed (or initial) scale, a number or a tensor broadcastable to ``feature_shape``.
        learn_scale: learn the per-feature scale (a positive ``PyroParam``).
        name: modality name for error messages.
    """

    continuous = True

    def __init__(
        self,
        feature_shape: int | tuple[int, ...],
        scale: float | Tensor = 0.75,
        learn_scale: bool = False,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(feature_shape, name=name)
        init = per_feature(scale, self.feature_shape, "scale", positive=True)
        self.learn_scale = bool(learn_scale)
        if self.learn_scale:
            self.scale = PyroParam(init, constraint=constraints.positive)
        else:
            self.register_buffer("scale", init)

    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """``{"loc": feature_shape}``."""
        return {"loc": self.feature_shape}

    def distribution(self, params: Mapping[str, Tensor]) -> dist.Laplace:
        """``Laplace(loc, scale)`` with batch shape ``(*batch, *feature_shape)``."""
        loc, scale = torch.broadcast_tensors(params["loc"], self.scale)
        return dist.Laplace(loc, scale)
