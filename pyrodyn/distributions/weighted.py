"""A distribution whose log-density is multiplied by a per-element weight (a finer poutine.scale).

``poutine.scale`` weights a whole sample site, i.e. every element of its batch shape. A
sequence latent ``(B, T, D)`` is one site with batch ``(B,)``, so a weight that varies over the
steps (a KL weight counted once per modality available *at that step*, or 0 at steps that carry
no data) cannot be a site scale. :class:`Weighted` applies it inside the site instead: wrap the
per-step factors (batch ``(B, T)``), then fold the steps with ``.to_event(1)``. Used on the
matching model and guide sites with the same weight, the closed-form KL (registered below) and
the Monte-Carlo KL ``w log q(z) - w log p(z)`` are the weighted KLs, exactly as a site scale
would weight them.
"""

from __future__ import annotations

import torch
from pyro.distributions import TorchDistribution
from torch import Tensor
from torch.distributions import constraints, kl_divergence, register_kl


class Weighted(TorchDistribution):
    """``base`` with ``log_prob`` times a non-negative ``weight`` (0: the element is dropped).

    Not a normalised density unless ``weight`` is 1: use it on a model site and its guide site
    with the same weight (as ``poutine.scale`` would be), never to score data.

    Args:
        base: the distribution, batch shape ``(*batch)``.
        weight: non-negative weights broadcastable to ``(*batch)``.
    """

    arg_constraints = {"weight": constraints.nonnegative}

    def __init__(self, base: TorchDistribution, weight: Tensor, validate_args=None) -> None:
        weight = torch.as_tensor(weight)
        batch_shape = torch.broadcast_shapes(base.batch_shape, weight.shape)
        self.base_dist = base.expand(batch_shape) if base.batch_shape != batch_shape else base
        self.weight = weight.expand(batch_shape)
        super().__init__(batch_shape, base.event_shape, validate_args=validate_args)

    @constraints.dependent_property
    def support(self):  # noqa: D102
        return self.base_dist.support

    @property
    def has_rsample(self) -> bool:  # noqa: D102
        return self.base_dist.has_rsample

    @property
    def mean(self) -> Tensor:  # noqa: D102
        return self.base_dist.mean

    @property
    def variance(self) -> Tensor:  # noqa: D102
        return self.base_dist.variance

    def expand(self, batch_shape, _instance=None) -> Weighted:
        """Broadcast to a larger batch shape (e.g. leading sample dimensions).

        Its own batch shape returns the distribution itself (distributions are immutable).
        """
        batch_shape = torch.Size(batch_shape)
        if _instance is None and batch_shape == self.batch_shape:
            # a plate expands every site's distribution to the plate's shape, usually its own:
            # a copy would cost a base expand and argument checks per site and loss evaluation
            return self
        return Weighted(self.base_dist.expand(batch_shape), self.weight.expand(batch_shape))

    def sample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        """A draw of ``base`` (the weight does not change the sampler)."""
        return self.base_dist.sample(sample_shape)

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        """A reparameterised draw of ``base``."""
        return self.base_dist.rsample(sample_shape)

    def log_prob(self, value: Tensor) -> Tensor:
        """``weight * base.log_prob(value)``, exactly 0 where the weight is 0."""
        return weigh(self.base_dist.log_prob(value), self.weight)


def weigh(term: Tensor, weight: Tensor) -> Tensor:
    """``weight * term`` with zero weights giving exactly 0 (also where ``term`` is not finite)."""
    weight = weight.to(term.dtype)
    return torch.where(weight > 0, weight * term, torch.zeros_like(term))


@register_kl(Weighted, Weighted)
def _kl_weighted_weighted(q: Weighted, p: Weighted) -> Tensor:
    if q.weight is not p.weight and not torch.equal(*torch.broadcast_tensors(q.weight, p.weight)):
        # torch's KL registry protocol: no closed form, callers fall back to Monte Carlo
        raise NotImplementedError
    return weigh(kl_divergence(q.base_dist, p.base_dist), q.weight)


__all__ = ["Weighted", "weigh"]
