"""Finite mixture of diagonal Gaussians with fixed weights (MoE/MoPoE posteriors, MMVM prior)."""

from __future__ import annotations

import torch
from pyro.distributions import Normal, TorchDistribution
from torch import Tensor
from torch.distributions import Independent, constraints, register_kl
from torch.distributions import Normal as TorchNormal

from pyrodyn.distributions.mixture_kl import KL_ESTIMATORS, kl_estimate


class DiagNormalMixture(TorchDistribution):
    """``sum_k w_k N(z; mu_k, diag sigma_k^2)`` over a ``D``-dimensional event.

    The weights are fixed (not learned): components that are absent in a row (a missing
    modality) get logit ``-inf``. :meth:`rsample` draws a component index, then a reparameterised
    sample of that component; because the weights carry no gradient this is an unbiased pathwise
    estimator of any expectation under the mixture (unlike Pyro's ``MixtureOfDiagNormals`` it also
    works for ``D = 1``).

    Args:
        locs: component means ``(*batch, K, D)``.
        scales: component standard deviations ``(*batch, K, D)``.
        logits: unnormalised log-weights ``(*batch, K)``; ``-inf`` removes a component. Every row
            needs at least one finite logit.
        kl_estimator: how ``kl_divergence(q, self)`` is computed for a diagonal Gaussian ``q``:
            ``"pairwise"`` (Jensen bound, the MMVM reference), ``"lse"`` (tighter closed-form
            bound) or ``"mc"``/None (no closed form: callers fall back to Monte Carlo).
    """

    arg_constraints = {
        "locs": constraints.real,
        "scales": constraints.positive,
        "logits": constraints.real,
    }
    support = constraints.real_vector
    has_rsample = True

    def __init__(
        self,
        locs: Tensor,
        scales: Tensor,
        logits: Tensor,
        *,
        kl_estimator: str | None = None,
        validate_args: bool | None = None,
    ) -> None:
        if locs.dim() < 2:
            raise ValueError(f"locs must be (*batch, K, D), got shape {tuple(locs.shape)}")
        if kl_estimator is not None and kl_estimator not in KL_ESTIMATORS:
            raise ValueError(
                f"unknown kl_estimator {kl_estimator!r}; expected one of {list(KL_ESTIMATORS)}"
            )
        k, d = locs.shape[-2:]
        batch_shape = torch.broadcast_shapes(locs.shape[:-2], scales.shape[:-2], logits.shape[:-1])
        if logits.shape[-1] != k or scales.shape[-2:] != (k, d):
            raise ValueError(
                f"locs {tuple(locs.shape)}, scales {tuple(scales.shape)} and logits "
                f"{tuple(logits.shape)} disagree on the number of components K or the event size D"
            )
        self.locs = locs.expand(*batch_shape, k, d)
        self.scales = scales.expand(*batch_shape, k, d)
        self.logits = logits.expand(*batch_shape, k)
        if not bool(torch.isfinite(self.logits).any(-1).all()):
            raise ValueError("every row of a DiagNormalMixture needs at least one component")
        self.kl_estimator = kl_estimator
        super().__init__(torch.Size(batch_shape), torch.Size((d,)), validate_args=validate_args)

    @property
    def num_components(self) -> int:
        """K, the number of components (absent ones included)."""
        return self.locs.shape[-2]

    @property
    def log_weights(self) -> Tensor:
        """Normalised log-weights ``(*batch, K)`` (``-inf`` for absent components)."""
        return self.logits - torch.logsumexp(self.logits, -1, keepdim=True)

    @property
    def weights(self) -> Tensor:
        """Normalised weights ``(*batch, K)``."""
        return self.log_weights.exp()

    def expand(self, batch_shape: torch.Size, _instance=None) -> DiagNormalMixture:
        """The mixture broadcast to a larger batch shape."""
        batch_shape = torch.Size(batch_shape)
        k, d = self.locs.shape[-2:]
        new = DiagNormalMixture(
            self.locs.expand(*batch_shape, k, d),
            self.scales.expand(*batch_shape, k, d),
            self.logits.expand(*batch_shape, k),
            kl_estimator=self.kl_estimator,
            validate_args=False,  # the parameters were checked when self was built
        )
        new._validate_args = self._validate_args  # values are still checked as self checks them
        return new

    def component_log_prob(self, value: Tensor) -> Tensor:
        """``log N(value; mu_k, sigma_k^2)`` per component: ``(..., *batch, K)``."""
        # values are checked as this distribution's validate_args says (its parameters were
        # checked at construction), not by the global default of the inner Normal
        if self._validate_args:
            self._validate_sample(value)
        normal = Normal(self.locs, self.scales, validate_args=False)
        return normal.log_prob(value.unsqueeze(-2)).sum(-1)

    def log_prob(self, value: Tensor) -> Tensor:
        """Exact mixture log-density (log-sum-exp over components): ``(..., *batch)``."""
        return torch.logsumexp(self.component_log_prob(value) + self.log_weights, -1)

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        """Component index by weight, then ``mu_k + sigma_k * eps``: ``(*sample, *batch, D)``."""
        shape = torch.Size(sample_shape)
        idx = torch.distributions.Categorical(logits=self.log_weights).sample(shape)
        k, d = self.locs.shape[-2:]
        lead = shape + self.batch_shape
        gather_idx = idx[..., None, None].expand(*lead, 1, d)
        loc = self.locs.expand(*lead, k, d).gather(-2, gather_idx).squeeze(-2)
        scale = self.scales.expand(*lead, k, d).gather(-2, gather_idx).squeeze(-2)
        return loc + scale * torch.randn_like(loc)

    @property
    def mean(self) -> Tensor:
        """Mixture mean ``(*batch, D)``."""
        return (self.weights[..., None] * self.locs).sum(-2)

    @property
    def variance(self) -> Tensor:
        """Mixture variance per dimension ``(*batch, D)`` (law of total variance)."""
        w = self.weights[..., None]
        second = (w * (self.scales**2 + self.locs**2)).sum(-2)
        return (second - self.mean**2).clamp_min(torch.finfo(self.locs.dtype).tiny)

    def moment_matched(self) -> Normal:
        """The Gaussian with the mixture's mean and variance (element-wise, ``(*batch, D)``)."""
        return Normal(self.mean, self.variance.sqrt())


def standard_normal_where_absent(
    locs: Tensor, scales: Tensor, available: Tensor
) -> tuple[Tensor, Tensor]:
    """``(locs, scales)`` ``(..., D)`` with N(0, 1) placeholders where ``available`` is False.

    ``available`` ``(...)``. Whatever an absent component holds (NaN, say) then reaches neither
    values nor gradients (a zero weight does not stop it: ``0 * NaN`` is NaN).
    """
    keep = available[..., None]
    return (
        torch.where(keep, locs, torch.zeros_like(locs)),
        torch.where(keep, scales, torch.ones_like(scales)),
    )


def uniform_mixture(
    locs: Tensor, scales: Tensor, available: Tensor, *, kl_estimator: str | None = None
) -> DiagNormalMixture:
    """Uniform mixture over the available components.

    Args:
        locs: ``(..., K, D)``.
        scales: ``(..., K, D)``.
        available: ``(..., K)`` bool; a row with no component becomes N(0, I) (padding steps).
            Unavailable components become N(0, I) placeholders of weight 0, so their values
            (NaN, say) never reach the mixture's densities or gradients.
        kl_estimator: passed to :class:`DiagNormalMixture`.
    """
    none = ~available.any(-1, keepdim=True)
    first = torch.zeros_like(available)
    first[..., 0] = True
    fill = none & first
    locs, scales = standard_normal_where_absent(locs, scales, available)
    keep = available | fill
    logits = torch.zeros_like(locs[..., 0]).masked_fill(~keep, float("-inf"))
    return DiagNormalMixture(locs, scales, logits, kl_estimator=kl_estimator)


@register_kl(Independent, DiagNormalMixture)
def _kl_independent_normal_mixture(q: Independent, p: DiagNormalMixture) -> Tensor:
    base = q.base_dist
    if (
        not isinstance(base, TorchNormal)
        or q.reinterpreted_batch_ndims != 1
        or p.kl_estimator not in ("pairwise", "lse")
    ):
        # torch's KL registry protocol: no closed form here, so Pyro falls back to Monte Carlo
        raise NotImplementedError
    return kl_estimate(base.loc, base.scale, p, p.kl_estimator)


__all__ = ["KL_ESTIMATORS", "DiagNormalMixture", "standard_normal_where_absent", "uniform_mixture"]
