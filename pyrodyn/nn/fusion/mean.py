"""Mean (AVG) fusion: average of the experts' means and variances."""

from __future__ import annotations

from collections.abc import Mapping

import pyro.distributions as dist
from torch import Tensor

from pyrodyn.nn.fusion.base import Fusion, stack_experts


class Mean(Fusion):
    """Arithmetic average of the available experts' means and variances (MM-GPVAE's rule).

    ``N(mean_m mu_m, mean_m sigma_m^2)`` over the available m: the AVG aggregation of the MMVM
    paper's baselines (Sutter et al., NeurIPS 2024), not a moment-matched mixture.
    """

    def forward(
        self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]
    ) -> dist.Normal:
        """``N(mean_m mu_m, mean_m sigma_m^2)`` over available m, ``(B, [T,] D)``."""
        self.check(posteriors, present)
        locs, scales, pres = stack_experts(posteriors, present)
        w = pres.to(locs.dtype)[..., None]
        w = w / w.sum(-2, keepdim=True).clamp_min(1.0)
        loc = (w * locs).sum(-2)
        var = (w * scales**2).sum(-2)
        none = ~pres.any(-1)
        return self.fallback(dist.Normal(loc, var.clamp_min(1e-30).sqrt()), none)
