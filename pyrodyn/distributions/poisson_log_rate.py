"""Poisson distribution parameterised by its log-rate."""

from __future__ import annotations

import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from torch import Tensor


class PoissonLogRate(dist.Poisson):
    """``Poisson(exp(log_rate))`` scored directly from the log-rate.

    ``log p(k) = k * log_rate - exp(log_rate) - lgamma(k + 1)``. Scoring from the log-rate avoids
    the ``log(exp(.))`` round trip of ``Poisson(rate=exp(log_rate))``: when ``exp(log_rate)``
    underflows to 0 (log-rate below about -87 in float32) that round trip gives ``-inf`` and NaN
    gradients for a positive count, whereas this form stays finite. Nothing is clamped: a log-rate
    so large that ``exp`` overflows (about 88 in float32) gives ``-inf``, which a fit loop reports
    as a non-finite loss instead of silently training on a modified likelihood.

    Args:
        log_rate: ``(*batch)`` real log-rates.
    """

    arg_constraints = {"log_rate": constraints.real}

    def __init__(self, log_rate: Tensor, validate_args: bool | None = None) -> None:
        self.log_rate = log_rate
        super().__init__(rate=log_rate.exp(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None) -> PoissonLogRate:  # noqa: D102
        new = self._get_checked_instance(PoissonLogRate, _instance)
        batch_shape = torch.Size(batch_shape)
        new.log_rate = self.log_rate.expand(batch_shape)
        new.rate = self.rate.expand(batch_shape)
        new.is_sparse = False
        torch.distributions.Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def log_prob(self, value: Tensor) -> Tensor:
        """``k * log_rate - rate - lgamma(k + 1)`` for counts ``value``."""
        if self._validate_args:
            self._validate_sample(value)
        return value * self.log_rate - self.rate - torch.lgamma(value + 1)
