"""Ordinal likelihood: cumulative logit with learned ordered thresholds."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from pyro.distributions import constraints
from pyro.nn import PyroParam
from torch import Tensor

from pyrodyn.distributions.cumulative_logit import CumulativeLogit
from pyrodyn.likelihoods._util import is_integer
from pyrodyn.likelihoods.base import Likelihood


class Ordinal(Likelihood):
    """``P(o_i <= k) = sigmoid(theta_{ik} - eta_i)`` for codes ``1..C`` (MTF, specs/mtf.md 1.3).

    The decoder produces one linear predictor ``eta`` per channel; the thresholds ``theta`` are
    learned per channel and kept ordered as in the reference: ``theta_1 = raw_1``,
    ``theta_k = theta_{k-1} + exp(raw_k)`` (a ``PyroParam`` with Pyro's ``ordered_vector``
    constraint, whose transform is exactly this). They start at ``logit(k / C)``, so every
    category has probability ``1/C`` at ``eta = 0``. Since the thresholds act as the intercept,
    the decoder head's bias starts at zero. Log-probabilities are computed stably without clamping
    (:class:`~pyrodyn.distributions.CumulativeLogit`; the reference floors them at 1e-9 and loses
    the gradient, specs/mtf.md 1.7 bug 3b). Observations are codes ``1..C`` (floats or
    integers); the default prediction is the mode (1-based).

    Args:
        num_channels: number of ordinal channels N (``feature_shape = (N,)``).
        num_categories: number of levels C >= 2.
        name: modality name for error messages.
    """

    placeholder = 1.0

    def __init__(self, num_channels: int, num_categories: int, *, name: str | None = None) -> None:
        super().__init__(int(num_channels), name=name)
        if int(num_categories) < 2:
            raise ValueError(f"num_categories must be >= 2, got {num_categories!r}")
        self.num_categories = int(num_categories)
        c = self.num_categories
        init = torch.logit(torch.arange(1, c, dtype=torch.get_default_dtype()) / c)
        self.thresholds = PyroParam(
            init.expand(self.feature_shape[0], c - 1).clone(),
            constraint=constraints.ordered_vector,
        )

    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """``{"eta": (num_channels,)}``."""
        return {"eta": self.feature_shape}

    def distribution(self, params: Mapping[str, Tensor]) -> CumulativeLogit:
        """``CumulativeLogit`` with batch shape ``(*batch, num_channels)``."""
        # exact log-gaps raw_k: a gap below the thresholds' float resolution is not lost to the
        # subtraction theta_k - theta_{k-1} (gaps of levels a channel never uses shrink to it)
        log_gaps = self.thresholds_unconstrained[..., 1:]
        return CumulativeLogit(params["eta"], self.thresholds, log_gaps)

    def check_support(self, obs: Tensor) -> Tensor:
        """Integer codes ``1..C``."""
        return is_integer(obs) & (obs >= 1) & (obs <= self.num_categories)

    def describe_support(self) -> str:
        """Codes 1..C."""
        return f"integer codes 1..{self.num_categories}"

    def mode(self, params: Mapping[str, Tensor]) -> Tensor:
        """The most probable code (1-based); NaN where ``eta`` is NaN (a diverged free run)."""
        out = super().mode(params)
        return torch.where(torch.isnan(params["eta"]), torch.nan, out)

    def default_prediction(self, params: Mapping[str, Tensor]) -> Tensor:
        """The mode (most probable code, 1-based), as the MTF generator returns."""
        return self.mode(params)

    def init_decoder_head(self, name: str, weight: Tensor, bias: Tensor | None) -> None:
        """Zero bias: the thresholds already carry each channel's intercept."""
        if bias is not None:
            with torch.no_grad():
                bias.zero_()
