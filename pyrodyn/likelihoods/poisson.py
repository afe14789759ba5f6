"""Poisson likelihood with a log link."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from pyrodyn.distributions.poisson_log_rate import PoissonLogRate
from pyrodyn.likelihoods._util import COUNT_SUPPORT, is_count
from pyrodyn.likelihoods.base import Likelihood


class Poisson(Likelihood):
    """``x ~ Poisson(exp(log_rate + b))`` element-wise, for spike or event counts.

    The decoder produces ``log_rate``; ``b`` is an optional learned per-feature intercept. The MTF
    reference has no intercept (``lambda = exp(gamma^T u)``, specs/mtf.md 1.3); we add one by
    default (a documented deviation: the decoder's bias already plays this role for a linear
    decoder, but not for decoders without a bias, and the intercept keeps the baseline rate
    separate from the latent readout). As in the reference, the decoder head starts with weights
    ``N(0, 0.001^2)`` (and a zero bias), so training starts from a near-constant rate ``exp(b)``.

    Log-probabilities are computed from the log-rate without clamping
    (:class:`~pyrodyn.distributions.PoissonLogRate`): a log-rate beyond about 88 (float32)
    overflows the rate and yields a non-finite loss, which ``fit`` reports, rather than a silently
    modified likelihood.

    Args:
        feature_shape: per-step observation shape.
        intercept: learn a per-feature intercept ``b`` (initialised at ``intercept_init``).
        intercept_init: initial intercept (log of the baseline rate).
        name: modality name for error messages.
    """

    def __init__(
        self,
        feature_shape: int | tuple[int, ...],
        intercept: bool = True,
        *,
        intercept_init: float = 0.0,
        name: str | None = None,
    ) -> None:
        super().__init__(feature_shape, name=name)
        if intercept:
            self.intercept = nn.Parameter(torch.full(self.feature_shape, float(intercept_init)))
        else:
            self.register_parameter("intercept", None)

    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """``{"log_rate": feature_shape}``."""
        return {"log_rate": self.feature_shape}

    def log_rate(self, params: Mapping[str, Tensor]) -> Tensor:
        """Total log-rate ``(*batch, *feature_shape)`` (decoder output plus intercept)."""
        eta = params["log_rate"]
        return eta if self.intercept is None else eta + self.intercept

    def distribution(self, params: Mapping[str, Tensor]) -> PoissonLogRate:
        """``Poisson`` with batch shape ``(*batch, *feature_shape)``."""
        return PoissonLogRate(self.log_rate(params))

    def check_support(self, obs: Tensor) -> Tensor:
        """Non-negative integers below 2**24 (larger ones are not exact in float32)."""
        return is_count(obs)

    def describe_support(self) -> str:
        """Counts."""
        return COUNT_SUPPORT

    def init_from_data(self, obs: Tensor, mask: Tensor) -> None:
        """Sets the intercept to the log of each feature's mean observed count (if learned)."""
        if self.intercept is None:
            return
        with torch.no_grad():
            dims = tuple(range(obs.dim() - len(self.feature_shape)))
            w = mask.to(obs.dtype)
            mean = (obs * w).sum(dims) / w.sum(dims).clamp_min(1.0)
            self.intercept.copy_(torch.log(mean.clamp_min(1e-3)))

    def init_decoder_head(self, name: str, weight: Tensor, bias: Tensor | None) -> None:
        """Weights ``N(0, 0.001^2)`` as in the MTF reference; zero bias."""
        with torch.no_grad():
            weight.normal_(0.0, 0.001)
            if bias is not None:
                bias.zero_()
