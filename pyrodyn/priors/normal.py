"""The i.i.d. standard normal prior (VAE prior), for static and sequence latents."""

from __future__ import annotations

import pyro.distributions as dist

from pyrodyn.priors.base import SEQUENCE, STATIC, LatentPrior, PriorContext


class StandardNormalPrior(LatentPrior):
    """z ~ N(0, I), independently per step: event ``(T, D)``, or ``(D,)`` for static latents."""

    slot_shapes = frozenset({SEQUENCE, STATIC})

    def distribution(self, ctx: PriorContext) -> dist.TorchDistribution:
        """N(0, I) with batch ``(B,)``."""
        shape = (ctx.num_sequences,)
        if ctx.num_steps is not None:
            shape += (ctx.num_steps,)
        shape += (self.latent_dim,)
        loc = ctx.like.new_zeros(shape) if ctx.like is not None else None
        if loc is None:
            import torch

            loc = torch.zeros(shape, device=ctx.device, dtype=ctx.dtype)
        d = dist.Normal(loc, 1.0)
        mask = ctx.step_mask()
        if mask is not None:
            d = d.mask(mask[..., None])
        return d.to_event(len(shape) - 1)
