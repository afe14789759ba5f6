"""Independent fusion: every modality keeps its own latent with an N(0, I) prior."""

from __future__ import annotations

from collections.abc import Mapping

import pyro.distributions as dist
from torch import Tensor

from pyrodyn.distributions.diag_normal_mixture import DiagNormalMixture
from pyrodyn.nn.fusion.base import Fusion, stack_experts
from pyrodyn.nn.fusion.moe import uniform_mixture


class Independent(Fusion):
    """Independent unimodal VAEs: latent ``z_m ~ q_m(z | x_m)`` decoded only by decoder ``m``.

    Equals MMVM with ``alpha = 1`` (Sutter et al., NeurIPS 2024). Nothing couples the
    modalities; the posterior from several modalities (:meth:`posterior`, used for imputation and
    the fused ``latent``) is the uniform mixture of the available unimodal posteriors, returned
    as its moment-matched Gaussian (exact for a single modality).
    """

    per_modality_latents = True

    def mixture(
        self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]
    ) -> DiagNormalMixture:
        """Uniform mixture of the available unimodal posteriors, batch ``(B, [T])``."""
        self.check(posteriors, present)
        locs, scales, pres = stack_experts(posteriors, present)
        return uniform_mixture(locs, scales, pres)

    def forward(
        self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]
    ) -> dist.Normal:
        """Moment-matched Gaussian of :meth:`mixture` ``(B, [T,] D)``."""
        return self.mixture(posteriors, present).moment_matched()

    def guide_distributions(
        self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]
    ) -> dict[str, dist.Distribution]:
        """``{m: q_m}`` (each an event over ``D``)."""
        self.check(posteriors, present)
        return {m: q.to_event(1) for m, q in posteriors.items()}
