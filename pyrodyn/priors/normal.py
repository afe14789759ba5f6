"""The i.i.d. standard normal prior (VAE prior), for static and sequence latents."""

from __future__ import annotations

from typing import Any

import pyro.distributions as dist
import torch

from pyrodyn.priors.base import SEQUENCE, STATIC, LatentPrior, PriorContext
from pyrodyn.priors.factorised import FactorisesOverSteps


class StandardNormalPrior(FactorisesOverSteps, LatentPrior):
    """z ~ N(0, I), independently per step: event ``(T, D)``, or ``(D,)`` for static latents."""

    slot_shapes = frozenset({SEQUENCE, STATIC})

    def step_distribution(self, ctx: PriorContext, **options: Any) -> dist.TorchDistribution:
        """N(0, I) per step: batch ``(B,)`` or ``(B, T)``, event ``(D,)`` (no step mask)."""
        shape = (ctx.num_sequences,)
        if ctx.num_steps is not None:
            shape += (ctx.num_steps,)
        shape += (self.latent_dim,)
        loc = torch.zeros(shape, device=ctx.device, dtype=ctx.dtype)
        return dist.Normal(loc, 1.0).to_event(1)

    def distribution(self, ctx: PriorContext) -> dist.TorchDistribution:
        """N(0, I) with batch ``(B,)``; steps beyond each sequence's length are masked."""
        d = self.step_distribution(ctx).base_dist
        event_dims = len(d.batch_shape) - 1
        mask = ctx.step_mask()
        if mask is not None:
            d = d.mask(mask[..., None])
        return d.to_event(event_dims)
