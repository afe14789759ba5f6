"""Product-of-experts fusion (precision-weighted Gaussian product)."""

from __future__ import annotations

from collections.abc import Mapping

import pyro.distributions as dist
import torch
from torch import Tensor

from pyrodyn.nn.fusion.base import Fusion, stack_experts


def product_of_experts(
    locs: Tensor, scales: Tensor, weights: Tensor, prior_expert: bool
) -> tuple[Tensor, Tensor]:
    """Precision-weighted product over the expert dim ``-2``.

    Args:
        locs: ``(..., M, D)``.
        scales: ``(..., M, D)``.
        weights: ``(..., M)`` 0/1 (or fractional) inclusion of each expert.
        prior_expert: add an N(0, I) expert.

    Returns:
        ``loc``, ``scale`` ``(..., D)``; rows with no expert get N(0, I).
    """
    inv = weights[..., None] / scales**2
    prec = inv.sum(-2) + (1.0 if prior_expert else 0.0)
    # no expert at all: N(0, I) rather than an infinite variance (keeps gradients finite)
    prec = torch.where(prec > 0, prec, torch.ones_like(prec))
    var = 1.0 / prec
    return (inv * locs).sum(-2) * var, var.sqrt()


class ProductOfExperts(Fusion):
    """Precision-weighted product of the available Gaussian experts.

    ``sigma^-2 = sum_m sigma_m^-2``, ``mu = sigma^2 sum_m sigma_m^-2 mu_m`` (Wu & Goodman 2018).
    The product of M identical experts keeps the mean and divides the variance by M.

    Args:
        prior_expert: include an N(0, I) expert (MVAE-faithful; also defines the posterior when
            every modality is missing). Off is MMVM-paper-faithful.
    """

    def __init__(self, prior_expert: bool = False) -> None:
        super().__init__()
        self.prior_expert = bool(prior_expert)

    def check(self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]) -> None:
        """As `Fusion.check`, but rows with no modality are fine with a prior expert."""
        if not self.prior_expert:
            super().check(posteriors, present)
            return
        if not posteriors:
            raise ValueError("fusion needs at least one modality posterior, got none")
        missing = [m for m in posteriors if m not in present]
        if missing:
            raise ValueError(f"no availability mask for modalities {missing}")
        sizes = {m: q.loc.shape[-1] for m, q in posteriors.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(
                f"{type(self).__name__} needs encoders with equal latent sizes, got {sizes}"
            )

    def forward(
        self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor]
    ) -> dist.Normal:
        """The product of the available experts ``(B, [T,] D)``."""
        self.check(posteriors, present)
        locs, scales, pres = stack_experts(posteriors, present)
        loc, scale = product_of_experts(locs, scales, pres.to(locs.dtype), self.prior_expert)
        fused = dist.Normal(loc, scale)
        return fused if self.prior_expert else self.fallback(fused, ~pres.any(-1))
