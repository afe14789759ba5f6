"""Product-of-experts fusion (precision-weighted Gaussian product)."""

from __future__ import annotations

from collections.abc import Mapping

import pyro.distributions as dist
import torch
from torch import Tensor

from pyrodyn.nn.fusion.base import Fusion, broadcast_present


class ProductOfExperts(Fusion):
    """Precision-weighted product of the available Gaussian experts.

    Args:
        prior_expert: include an N(0, I) expert (MVAE-faithful; also defines the posterior when
            every modality is missing).
    """

    def __init__(self, prior_expert: bool = False) -> None:
        super().__init__()
        self.prior_expert = bool(prior_expert)

    def check(self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]) -> None:
        """As `Fusion.check`, but rows with no modality are fine with a prior expert."""
        if self.prior_expert:
            if not posteriors:
                raise ValueError("fusion needs at least one modality posterior, got none")
            return
        super().check(posteriors, present)

    def forward(
        self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]
    ) -> dist.Normal:
        """``sigma^-2 = sum_m sigma_m^-2``, ``mu = sigma^2 sum_m sigma_m^-2 mu_m``."""
        self.check(posteriors, present)
        first = next(iter(posteriors.values()))
        prec = first.loc.new_full(first.loc.shape, 1.0 if self.prior_expert else 0.0)
        weighted = torch.zeros_like(first.loc)
        for m, q in posteriors.items():
            p = broadcast_present(present[m], q.loc).to(q.loc.dtype)
            inv = p / q.scale**2
            prec = prec + inv
            weighted = weighted + inv * q.loc
        var = 1.0 / prec
        return dist.Normal(weighted * var, var.sqrt())
