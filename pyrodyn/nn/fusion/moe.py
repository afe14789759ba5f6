"""Mixture-of-experts fusion: the shared posterior is the uniform mixture of unimodal ones."""

from __future__ import annotations

from collections.abc import Mapping

import pyro.distributions as dist
from torch import Tensor

from pyrodyn.distributions.diag_normal_mixture import DiagNormalMixture, uniform_mixture
from pyrodyn.nn.fusion.base import SHARED, Fusion, stack_experts


class MixtureOfExperts(Fusion):
    """Uniform mixture of the available unimodal posteriors (MMVAE; Shi et al., NeurIPS 2019).

    The guide samples the shared latent from the mixture (component index, then a
    reparameterised draw of that component); the model's KL to N(0, I) is then estimated by Monte
    Carlo, exact in expectation. This differs from the MMVM reference's batch-partition
    subsampling (spec mmvm.md 1.7), which estimates the same quantity with a Jensen bound.
    :meth:`forward` returns the moment-matched Gaussian of the mixture.
    """

    mixture_posterior = True

    def mixture(
        self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]
    ) -> DiagNormalMixture:
        """The mixture posterior, batch ``(B, [T])``, event ``(D,)``."""
        self.check(posteriors, present)
        locs, scales, pres = stack_experts(posteriors, present)
        return uniform_mixture(locs, scales, pres)

    def forward(
        self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]
    ) -> dist.Normal:
        """Moment-matched Gaussian of the mixture ``(B, [T,] D)``."""
        return self.mixture(posteriors, present).moment_matched()

    def guide_distributions(
        self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]
    ) -> dict[str, dist.Distribution]:
        """``{"shared": mixture}``."""
        return {SHARED: self.mixture(posteriors, present)}


__all__ = ["MixtureOfExperts", "uniform_mixture"]
