"""Bernoulli likelihood for binary observations."""

from __future__ import annotations

from collections.abc import Mapping

import pyro.distributions as dist
from torch import Tensor

from pyrodyn.likelihoods.base import Likelihood


class Bernoulli(Likelihood):
    """``x ~ Bernoulli(sigmoid(logits))`` element-wise, for binary events or binarised images.

    The decoder produces ``logits``; observations must be 0 or 1. The mean is the probability;
    the mode is ``1`` where ``logits > 0`` (0 on ties).

    Args:
        feature_shape: per-step observation shape.
        name: modality name for error messages.
    """

    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """``{"logits": feature_shape}``."""
        return {"logits": self.feature_shape}

    def distribution(self, params: Mapping[str, Tensor]) -> dist.Bernoulli:
        """``Bernoulli`` with batch shape ``(*batch, *feature_shape)``."""
        return dist.Bernoulli(logits=params["logits"])

    def mode(self, params: Mapping[str, Tensor]) -> Tensor:
        """``1`` where ``logits > 0``, else ``0`` (torch's mode is NaN at exactly 1/2)."""
        logits = params["logits"]
        return (logits > 0).to(logits.dtype)

    def check_support(self, obs: Tensor) -> Tensor:
        """0 or 1."""
        return (obs == 0) | (obs == 1)

    def describe_support(self) -> str:
        """Binary values."""
        return "binary values 0 or 1"
