"""Mean (AVG) fusion: average of the experts' means and variances."""

from __future__ import annotations

from collections.abc import Mapping

import pyro.distributions as dist
import torch
from torch import Tensor

from pyrodyn.nn.fusion.base import Fusion, broadcast_present


class Mean(Fusion):
    """Arithmetic average of the available experts' means and variances (MM-GPVAE's rule)."""

    def forward(
        self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]
    ) -> dist.Normal:
        """``N(mean_m mu_m, mean_m sigma_m^2)`` over available m."""
        self.check(posteriors, present)
        locs = torch.stack([q.loc for q in posteriors.values()])
        var = torch.stack([q.scale**2 for q in posteriors.values()])
        w = torch.stack([broadcast_present(present[m], q.loc) for m, q in posteriors.items()]).to(
            locs.dtype
        )
        w = w / w.sum(0).clamp_min(1.0)
        loc = (w * locs).sum(0)
        scale = ((w * var).sum(0)).sqrt()
        return dist.Normal(loc, scale)
