"""Cumulative-logit (proportional-odds) distribution over ordered categories ``1..C``."""

from __future__ import annotations

import math

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.distributions import constraints
from torch import Tensor
from torch.distributions.utils import broadcast_all


def log1mexp(d: Tensor) -> Tensor:
    """``log(1 - exp(-d))`` for ``d > 0``, accurate for small and large ``d``.

    Uses ``log(-expm1(-d))`` below ``log 2`` and ``log1p(-exp(-d))`` above (Mächler, 2012,
    "Accurately computing log(1 - exp(-|a|))").
    """
    small = d <= math.log(2.0)
    # evaluate each branch only on inputs where it is accurate, with a harmless value elsewhere
    d_small = torch.where(small, d, d.new_ones(()))
    d_large = torch.where(small, d.new_ones(()), d)
    return torch.where(small, torch.log(-torch.expm1(-d_small)), torch.log1p(-torch.exp(-d_large)))


def log1mexp_exp(r: Tensor) -> Tensor:
    """``log(1 - exp(-exp(r)))``: :func:`log1mexp` of ``d = exp(r)``, accurate for any real ``r``.

    Below ``d = e^-5`` it uses the series ``log d - d/2 + d^2/24`` (error below ``d^4/2880``), so
    it stays exact when ``d`` itself underflows.
    """
    tiny = r < -5.0
    r_tiny = torch.where(tiny, r, r.new_full((), -5.0))
    d_tiny = r_tiny.exp()
    series = r_tiny - d_tiny / 2 + d_tiny**2 / 24
    r_big = torch.where(tiny, r.new_zeros(()), r)
    return torch.where(tiny, series, log1mexp(r_big.exp()))


class _NonDecreasing(constraints.Constraint):
    """Real vectors whose entries never decrease along the last dim (ties allowed)."""

    event_dim = 1

    def check(self, value: Tensor) -> Tensor:
        ok = torch.isfinite(value).all(-1)
        return ok & (value[..., 1:] >= value[..., :-1]).all(-1)


non_decreasing = _NonDecreasing()


class CumulativeLogit(dist.TorchDistribution):
    r"""Ordinal distribution with ``P(o <= k) = sigmoid(theta_k - eta)`` for ``k = 1..C-1``.

    ``P(o = k) = sigmoid(theta_k - eta) - sigmoid(theta_{k-1} - eta)`` with ``theta_0 = -inf`` and
    ``theta_C = +inf`` (McCullagh, 1980, "Regression models for ordinal data"). Categories are
    coded ``1..C`` (floats or integers), as in the MTF data (Brenner et al., ICML 2024).

    The log-probability is computed without clamping or flooring. With ``a = theta_k - eta`` and
    ``b = theta_{k-1} - eta``,
    ``sigmoid(a) - sigmoid(b) = sigmoid(a) sigmoid(-b) (1 - e^{-(a-b)})``, hence
    ``log P(o = k) = logsigmoid(a) + logsigmoid(-b) + log1mexp(a - b)``: every term is finite and
    has a non-vanishing gradient however improbable the category (the reference code floors the
    probabilities at 1e-9 and so loses the gradient, specs/mtf.md 1.7 bug 3b).

    The gaps ``theta_k - theta_{k-1}`` enter only through ``log1mexp``; when the thresholds are
    parameterised by their log-gaps (as in :class:`~pyrodyn.likelihoods.Ordinal`), pass them as
    ``log_gaps`` so they are used exactly, however small. Otherwise they are recovered by
    subtraction, which loses a gap below the thresholds' floating-point resolution (two
    thresholds that compare equal give the category between them probability 0).

    Args:
        eta: linear predictor ``(*batch)``.
        thresholds: non-decreasing cut points ``(*batch, C - 1)`` (broadcastable against
            ``eta[..., None]``).
        log_gaps: optional ``log(theta_k - theta_{k-1})`` for ``k = 2..C-1``,
            ``(*batch, C - 2)``.
    """

    arg_constraints = {
        "eta": constraints.real,
        "thresholds": non_decreasing,
        "log_gaps": constraints.independent(constraints.real, 1),
    }
    has_enumerate_support = True

    def __init__(
        self,
        eta: Tensor,
        thresholds: Tensor,
        log_gaps: Tensor | None = None,
        validate_args: bool | None = None,
    ) -> None:
        if thresholds.dim() < 1 or thresholds.shape[-1] < 1:
            raise ValueError(
                f"thresholds must have a last dim of size C - 1 >= 1, got shape "
                f"{tuple(thresholds.shape)}"
            )
        c = thresholds.shape[-1] + 1
        if log_gaps is not None and log_gaps.shape[-1:] != (c - 2,):
            raise ValueError(
                f"log_gaps must have a last dim of size C - 2 = {c - 2}, got shape "
                f"{tuple(log_gaps.shape)}"
            )
        eta, _ = broadcast_all(eta, thresholds[..., 0])
        batch_shape = eta.shape
        self.eta = eta
        self.thresholds = thresholds.expand(*batch_shape, c - 1)
        if log_gaps is None:
            gaps = self.thresholds[..., 1:] - self.thresholds[..., :-1]
            # a tie is a gap of exactly 0 (log -inf) with no gradient, rather than log(0)'s inf
            tie = gaps <= 0
            safe = torch.log(torch.where(tie, torch.ones_like(gaps), gaps))
            log_gaps = torch.where(tie, torch.full_like(gaps, -math.inf), safe)
        self.log_gaps = log_gaps.expand(*batch_shape, c - 2)
        self.num_categories = c
        super().__init__(batch_shape, torch.Size(), validate_args=validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self) -> constraints.Constraint:
        """Integers ``1..C``."""
        return constraints.integer_interval(1, self.num_categories)

    def expand(self, batch_shape, _instance=None) -> CumulativeLogit:  # noqa: D102
        new = self._get_checked_instance(CumulativeLogit, _instance)
        batch_shape = torch.Size(batch_shape)
        new.eta = self.eta.expand(batch_shape)
        new.thresholds = self.thresholds.expand(*batch_shape, self.num_categories - 1)
        new.log_gaps = self.log_gaps.expand(*batch_shape, self.num_categories - 2)
        new.num_categories = self.num_categories
        super(CumulativeLogit, new).__init__(batch_shape, torch.Size(), validate_args=False)
        new._validate_args = self._validate_args
        return new

    # ------------------------------------------------------------------ probabilities
    def cdf_logits(self) -> Tensor:
        """``theta_k - eta`` for ``k = 1..C-1``: ``(*batch, C - 1)``."""
        return self.thresholds - self.eta.unsqueeze(-1)

    def log_prob(self, value: Tensor) -> Tensor:
        """``log P(o = value)``, ``value`` in ``1..C`` broadcastable to the batch shape."""
        if self._validate_args:
            self._validate_sample(value)
        value, eta = broadcast_all(value, self.eta)
        c = self.num_categories
        k = value.long()
        shape = k.shape
        th = self.thresholds.expand(*shape, c - 1)
        upper_idx = (k.clamp(1, c - 1) - 1).unsqueeze(-1)
        lower_idx = (k.clamp(2, c) - 2).unsqueeze(-1)
        theta_up = th.gather(-1, upper_idx).squeeze(-1)
        theta_lo = th.gather(-1, lower_idx).squeeze(-1)
        first = k <= 1
        last = k >= c
        zero = eta.new_zeros(())
        lp_up = torch.where(last, zero, F.logsigmoid(theta_up - eta))
        lp_lo = torch.where(first, zero, F.logsigmoid(eta - theta_lo))
        if c == 2:
            return lp_up + lp_lo
        # the gap theta_k - theta_{k-1} does not depend on eta; a harmless 0 where it is unused
        inner = ~(first | last)
        idx = (k.clamp(2, c - 1) - 2).unsqueeze(-1)
        log_gap = self.log_gaps.expand(*shape, c - 2).gather(-1, idx).squeeze(-1)
        log_gap = torch.where(inner, log_gap, zero)
        lp_gap = torch.where(inner, log1mexp_exp(log_gap), zero)
        return lp_up + lp_lo + lp_gap

    def log_probs(self) -> Tensor:
        """Log-probabilities of all categories ``(*batch, C)`` (last dim: categories 1..C)."""
        codes = torch.arange(1, self.num_categories + 1, device=self.eta.device)
        codes = codes.to(self.eta.dtype).reshape(-1, *([1] * len(self.batch_shape)))
        lp = self.log_prob(codes.expand(-1, *self.batch_shape))
        return lp.movedim(0, -1)

    @property
    def probs(self) -> Tensor:
        """Category probabilities ``(*batch, C)``."""
        return self.log_probs().exp()

    # ------------------------------------------------------------------ moments, sampling
    @property
    def mean(self) -> Tensor:
        """``E[o] = C - sum_k sigmoid(theta_k - eta)`` (codes 1..C)."""
        return self.num_categories - torch.sigmoid(self.cdf_logits()).sum(-1)

    @property
    def variance(self) -> Tensor:
        """``Var[o]`` over the codes 1..C."""
        p = self.probs
        codes = torch.arange(1, self.num_categories + 1, dtype=p.dtype, device=p.device)
        m = (p * codes).sum(-1)
        return (p * codes**2).sum(-1) - m**2

    @property
    def mode(self) -> Tensor:
        """Most probable code (1-based, in the dtype of ``eta``)."""
        return (self.log_probs().argmax(-1) + 1).to(self.eta.dtype)

    def sample(self, sample_shape=torch.Size()) -> Tensor:
        """Codes ``1..C`` by inverse CDF, in the dtype of ``eta``: ``(*sample_shape, *batch)``."""
        shape = self._extended_shape(sample_shape)
        with torch.no_grad():
            u = torch.rand(shape, dtype=self.eta.dtype, device=self.eta.device)
            cdf = torch.sigmoid(self.cdf_logits()).expand(*shape, self.num_categories - 1)
            return 1 + (u.unsqueeze(-1) > cdf).sum(-1).to(self.eta.dtype)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        """Codes ``1..C`` shaped ``(C, *batch)`` (``(C, 1, ..., 1)`` when not expanded)."""
        codes = torch.arange(
            1, self.num_categories + 1, dtype=self.eta.dtype, device=self.eta.device
        ).reshape(-1, *([1] * len(self.batch_shape)))
        return codes.expand(-1, *self.batch_shape) if expand else codes
