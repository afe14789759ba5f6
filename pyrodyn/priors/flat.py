"""The flat (improper, constant-density) prior: a latent site scored only by the rest of the model.

A latent whose "prior" lives elsewhere in the model (MTF's teacher latent is scored by the forced
rollout of the dynamics through factors, not by a density of its own) still needs a site with a
density for Pyro's ELBOs. :class:`FlatDensity` is ``log p(z) = 0`` on all of ``R^n``; with a
Gaussian guide its closed-form ``KL(q || flat)`` is ``-H(q)``, the negative entropy, registered
for :class:`~pyrodyn.objectives.elbo.MeanFieldELBO`, so the site's ELBO term is minus the
posterior entropy exactly (no Monte-Carlo noise).
"""

from __future__ import annotations

import pyro.distributions as dist
import torch
from pyro.distributions.util import broadcast_shape
from torch.distributions import Normal as _TorchNormal
from torch.distributions import constraints, register_kl

from pyrodyn.priors.base import SEQUENCE, STATIC, LatentPrior, PriorContext


class FlatDensity(dist.TorchDistribution):
    """``log p(z) = 0`` for every real ``z`` (improper), element-wise with a batch shape.

    :meth:`sample` returns standard-normal draws: the density has no sampler, and the draws only
    serve as initial values (``AutoNormal``'s ``init_to_feasible``, prior-predictive runs).

    Args:
        batch_shape: the element-wise shape.
        like: a tensor whose device and dtype draws follow.
    """

    arg_constraints: dict = {}
    support = constraints.real
    has_rsample = False

    def __init__(self, batch_shape: torch.Size | tuple[int, ...], like: torch.Tensor | None = None):
        ref = torch.zeros(()) if like is None else like.new_zeros(())
        self._ref = ref
        super().__init__(torch.Size(batch_shape), torch.Size(), validate_args=False)

    def expand(self, batch_shape, _instance=None):  # noqa: D102
        new = self._get_checked_instance(FlatDensity, _instance)
        new._ref = self._ref
        super(FlatDensity, new).__init__(torch.Size(batch_shape), self.event_shape, False)
        return new

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Zeros with the broadcast batch shape of ``value`` and the distribution."""
        shape = broadcast_shape(tuple(value.shape), tuple(self.batch_shape))
        return value.new_zeros(shape)

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        """Standard-normal placeholder draws ``(*sample_shape, *batch_shape)``."""
        shape = torch.Size(sample_shape) + self.batch_shape
        return torch.randn(shape, dtype=self._ref.dtype, device=self._ref.device)


@register_kl(_TorchNormal, FlatDensity)
def _kl_normal_flat(p: _TorchNormal, q: FlatDensity) -> torch.Tensor:
    # KL(q || flat) = E_q[log q] - 0 = -H(q)
    shape = broadcast_shape(tuple(p.batch_shape), tuple(q.batch_shape))
    return -p.entropy().expand(shape)


class FlatPrior(LatentPrior):
    """The flat prior ``p(z) ∝ 1`` over a sequence ``(B, T, D)`` or static ``(B, D)`` latent.

    The latent's density then comes only from the rest of the model (factors, observations), and
    a Gaussian guide's ELBO term is minus its entropy (closed form, see the module docstring).
    Padded steps (``ctx.lengths``) are masked, as in the guide's posterior.

    Args:
        latent_dim: D.
    """

    slot_shapes = frozenset({SEQUENCE, STATIC})
    is_proper = False

    def distribution(self, ctx: PriorContext) -> dist.TorchDistribution:
        """The flat density with batch ``(B,)`` and event ``([T,] D)``."""
        shape: tuple[int, ...] = (ctx.num_sequences,)
        if ctx.num_steps is not None:
            shape += (ctx.num_steps,)
        shape += (self.latent_dim,)
        d = FlatDensity(shape, ctx.like)
        mask = ctx.step_mask()
        if mask is not None:
            d = d.mask(mask[..., None])
        return d.to_event(len(shape) - 1)


__all__ = ["FlatDensity", "FlatPrior"]
