"""Negative binomial likelihood for over-dispersed counts."""

from __future__ import annotations

from collections.abc import Mapping

import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from pyro.nn import PyroParam
from torch import Tensor

from pyrodyn.likelihoods._util import COUNT_SUPPORT, is_count, per_feature
from pyrodyn.likelihoods.base import Likelihood


class NegativeBinomial(Likelihood):
    """``x ~ NB(total_count r, mean mu)`` element-wise: ``Var = mu + mu^2 / r``.

    The decoder produces ``log_mean = log mu``; the dispersion ``r > 0`` is learned per feature
    (or fixed). The distribution is torch's ``NegativeBinomial`` with
    ``logits = log_mean - log r`` (its mean is ``r * exp(logits)``), whose log-probability is
    evaluated through log-sigmoids and is stable for any real ``log_mean``. Large ``r`` approaches
    the Poisson.

    Args:
        feature_shape: per-step observation shape.
        total_count: initial (or fixed) dispersion ``r``, a number or a tensor broadcastable to
            ``feature_shape``.
        learn_total_count: learn ``r`` (a positive ``PyroParam``).
        name: modality name for error messages.
    """

    def __init__(
        self,
        feature_shape: int | tuple[int, ...],
        total_count: float | Tensor = 10.0,
        learn_total_count: bool = True,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(feature_shape, name=name)
        init = per_feature(total_count, self.feature_shape, "total_count", positive=True)
        if learn_total_count:
            self.total_count = PyroParam(init, constraint=constraints.positive)
        else:
            self.register_buffer("total_count", init)

    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """``{"log_mean": feature_shape}``."""
        return {"log_mean": self.feature_shape}

    def distribution(self, params: Mapping[str, Tensor]) -> dist.NegativeBinomial:
        """``NegativeBinomial`` with batch shape ``(*batch, *feature_shape)``."""
        r = self.total_count
        log_mean, r = torch.broadcast_tensors(params["log_mean"], r)
        return dist.NegativeBinomial(total_count=r, logits=log_mean - r.log())

    def check_support(self, obs: Tensor) -> Tensor:
        """Non-negative integers below 2**24 (larger ones are not exact in float32)."""
        return is_count(obs)

    def describe_support(self) -> str:
        """Counts."""
        return COUNT_SUPPORT
