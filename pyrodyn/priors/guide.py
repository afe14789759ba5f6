"""The guide family: how a guide turns encoder outputs into a distribution over a prior's site.

A composed model's encoders give per-step Gaussian pseudo-observations ``(B, [T,] D)``; the guide
family of a slot turns them, with the slot's prior, into the variational distribution the guide
samples (batch ``(B,)``, event in the prior's parameterisation). Mean-field is the default; a
structured (e.g. Markov) family is another subclass.
"""

from __future__ import annotations

import pyro.distributions as dist
from torch import Tensor, nn

from pyrodyn.priors.base import LatentPrior, PriorContext


class GuideFamily(nn.Module):
    """Base class: subclasses implement :meth:`forward`."""

    def forward(
        self,
        prior: LatentPrior,
        loc: Tensor,
        scale: Tensor,
        ctx: PriorContext,
        weights: Tensor | None = None,
    ) -> dist.TorchDistribution:
        """Q over ``prior``'s site, batch ``(B,)``, from pseudo-observations ``(B, [T,] D)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")


class MeanField(GuideFamily):
    """Independent Gaussians over the site's coordinates (the prior's :meth:`posterior`)."""

    def forward(
        self,
        prior: LatentPrior,
        loc: Tensor,
        scale: Tensor,
        ctx: PriorContext,
        weights: Tensor | None = None,
    ) -> dist.TorchDistribution:
        """``prior.guide_distribution(loc, scale, ctx, weights)``."""
        return prior.guide_distribution(loc, scale, ctx, weights)


__all__ = ["GuideFamily", "MeanField"]
