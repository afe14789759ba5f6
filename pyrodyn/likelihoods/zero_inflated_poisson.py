"""Zero-inflated Poisson likelihood."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pyro.distributions as dist
import torch
from torch import Tensor, nn

from pyrodyn.distributions.poisson_log_rate import PoissonLogRate
from pyrodyn.likelihoods._util import COUNT_SUPPORT, is_count
from pyrodyn.likelihoods.base import Likelihood


class ZeroInflatedPoisson(Likelihood):
    """``x = 0`` with probability ``g``, otherwise ``x ~ Poisson(exp(log_rate))``, element-wise.

    The decoder produces ``log_rate`` and, with ``gate_from_decoder``, ``gate_logits``; otherwise
    the gate logit is learned per feature (initialised at ``logit(gate)``). The log-probability is
    Pyro's ``ZeroInflatedDistribution`` with ``gate_logits`` over
    :class:`~pyrodyn.distributions.PoissonLogRate`, i.e.
    ``log p(0) = log(g + (1 - g) e^{-lambda})`` evaluated with softplus, and
    ``log p(k) = log(1 - g) + log Poisson(k)`` for ``k > 0``; nothing is clamped.

    Args:
        feature_shape: per-step observation shape.
        gate_from_decoder: the decoder produces the gate logits.
        gate: initial zero-inflation probability of the learned gate, in (0, 1).
        name: modality name for error messages.
    """

    def __init__(
        self,
        feature_shape: int | tuple[int, ...],
        gate_from_decoder: bool = False,
        *,
        gate: float = 0.1,
        name: str | None = None,
    ) -> None:
        super().__init__(feature_shape, name=name)
        if not 0.0 < float(gate) < 1.0:
            raise ValueError(f"gate must lie in (0, 1), got {gate!r}")
        self.gate_from_decoder = bool(gate_from_decoder)
        self._gate_logit = math.log(gate) - math.log1p(-gate)
        if self.gate_from_decoder:
            self.register_parameter("gate_logits", None)
        else:
            self.gate_logits = nn.Parameter(torch.full(self.feature_shape, self._gate_logit))

    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """``{"log_rate": feature_shape}`` (+ ``"gate_logits"`` when decoded)."""
        shapes = {"log_rate": self.feature_shape}
        if self.gate_from_decoder:
            shapes["gate_logits"] = self.feature_shape
        return shapes

    def distribution(self, params: Mapping[str, Tensor]) -> dist.ZeroInflatedDistribution:
        """Zero-inflated Poisson with batch shape ``(*batch, *feature_shape)``."""
        log_rate = params["log_rate"]
        gate = params["gate_logits"] if self.gate_from_decoder else self.gate_logits
        log_rate, gate = torch.broadcast_tensors(log_rate, gate)
        return dist.ZeroInflatedDistribution(PoissonLogRate(log_rate), gate_logits=gate)

    def mode(self, params: Mapping[str, Tensor]) -> Tensor:
        """0 or ``floor(lambda)``, whichever is more probable ``(*batch, *feature_shape)``."""
        d = self.distribution(params)
        k = torch.floor(d.base_dist.rate)
        lp_k = d.log_prob(k)
        lp_0 = d.log_prob(torch.zeros_like(k))
        return torch.where(lp_0 >= lp_k, torch.zeros_like(k), k)

    def check_support(self, obs: Tensor) -> Tensor:
        """Non-negative integers below 2**24 (larger ones are not exact in float32)."""
        return is_count(obs)

    def describe_support(self) -> str:
        """Counts."""
        return COUNT_SUPPORT

    def init_decoder_head(self, name: str, weight: Tensor, bias: Tensor | None) -> None:
        """A decoded gate starts near ``gate`` (small weights, bias ``logit(gate)``)."""
        if name == "gate_logits":
            with torch.no_grad():
                weight.mul_(0.01)
                if bias is not None:
                    bias.fill_(self._gate_logit)
