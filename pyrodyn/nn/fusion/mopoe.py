"""Mixture of products of experts: a uniform mixture over the PoEs of all modality subsets."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import pyro.distributions as dist
import torch
from torch import Tensor

from pyrodyn.distributions.diag_normal_mixture import DiagNormalMixture
from pyrodyn.nn.fusion.base import SHARED, Fusion, stack_experts
from pyrodyn.nn.fusion.moe import uniform_mixture
from pyrodyn.nn.fusion.poe import product_of_experts


def nonempty_subsets(num: int) -> list[tuple[int, ...]]:
    """The ``2^num - 1`` non-empty subsets of ``range(num)``, smallest first."""
    return [c for k in range(1, num + 1) for c in itertools.combinations(range(num), k)]


class MixtureOfProductsOfExperts(Fusion):
    """MoPoE (Sutter, Daunhawer & Vogt, ICLR 2021): uniform mixture of the ``2^M - 1`` subset PoEs.

    With missing modalities only the subsets of the available ones are components (``2^M' - 1``
    of them), so a missing modality contributes no expert anywhere. The guide samples the mixture
    (component, then reparameterised draw); :meth:`forward` is its moment-matched Gaussian.

    Args:
        prior_expert: add an N(0, I) expert to every subset product (off in the MMVM reference).
    """

    mixture_posterior = True

    def __init__(self, prior_expert: bool = False) -> None:
        super().__init__()
        self.prior_expert = bool(prior_expert)

    def mixture(
        self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]
    ) -> DiagNormalMixture:
        """Mixture over subset products, batch ``(B, [T])``, ``2^M - 1`` components."""
        self.check(posteriors, present)
        locs, scales, pres = stack_experts(posteriors, present)
        subsets = nonempty_subsets(locs.shape[-2])
        member = torch.zeros(len(subsets), locs.shape[-2], dtype=locs.dtype, device=locs.device)
        for i, s in enumerate(subsets):
            member[i, list(s)] = 1.0
        # (..., S, M): component s includes expert m
        weights = member.expand(*locs.shape[:-2], *member.shape)
        loc, scale = product_of_experts(
            locs.unsqueeze(-3), scales.unsqueeze(-3), weights, self.prior_expert
        )
        # a subset is a component iff all its members are available
        missing = (~pres).to(locs.dtype)
        available = (member @ missing.unsqueeze(-1)).squeeze(-1) == 0
        return uniform_mixture(loc, scale, available)

    def forward(
        self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]
    ) -> dist.Normal:
        """Moment-matched Gaussian of :meth:`mixture` ``(B, [T,] D)``."""
        return self.mixture(posteriors, present).moment_matched()

    def guide_distributions(
        self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]
    ) -> dict[str, dist.Distribution]:
        """``{"shared": mixture}``."""
        return {SHARED: self.mixture(posteriors, present)}
