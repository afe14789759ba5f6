"""Priors that factorise over the steps (and rows) of their slot, in the time domain."""

from __future__ import annotations

from typing import Any

import pyro.distributions as dist

from pyrodyn.priors.base import PriorContext


class FactorisesOverSteps:
    """Mixin for a `LatentPrior` whose density is a product of per-step factors.

    The site value is the latent itself (``(B, D)`` static, ``(B, T, D)`` sequences) and
    ``p(z) = prod_{b, t} p_{b,t}(z_{b,t})``. :meth:`step_distribution` returns the factors, so a
    model can weight or mask single steps (a KL counted once per modality available at a step,
    steps without data) before folding them into the site (``.to_event(1)``); per-step latent
    models (:class:`~pyrodyn.models.mmvm.MultimodalVAE`) need such a prior.
    """

    def step_distribution(self, ctx: PriorContext, **options: Any) -> dist.TorchDistribution:
        """The per-step factors: batch ``(B,)`` (static) or ``(B, T)``, event ``(D,)``.

        Args:
            ctx: the context.
            **options: scheduled values the prior reads (e.g. the MMVM mixture's ``alpha``);
                priors ignore the ones they do not know.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement step_distribution(ctx)")


__all__ = ["FactorisesOverSteps"]
