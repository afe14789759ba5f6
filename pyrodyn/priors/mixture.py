"""The MMVM prior: a data-dependent mixture of the unimodal posteriors of the same sample.

Sutter et al., "Unity by Diversity: Improved Representation Learning in Multimodal VAEs"
(NeurIPS 2024). For a latent of the slot, at every row (and step)::

    h(z | X) = alpha N(0, I) + (1 - alpha) / M' sum_{m available} q_m(z | x_m)

with ``q_m`` the unimodal posteriors the model filled into the context (``ctx.posteriors``,
``ctx.present``), the latent's own modality included. ``sum_m KL(q_m || h)`` then softly aligns
the unimodal posteriors. The objective with this prior is not an ELBO (the prior depends on the
data): compare models by held-out metrics, never by training loss.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pyro.distributions as dist
import torch
from torch import Tensor

from pyrodyn.distributions.diag_normal_mixture import (
    KL_ESTIMATORS,
    DiagNormalMixture,
    uniform_mixture,
)
from pyrodyn.priors.base import SEQUENCE, STATIC, LatentPrior, PriorContext
from pyrodyn.priors.factorised import FactorisesOverSteps


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """Validates a mixture weight in [0, 1]."""
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number in [0, 1], got {alpha!r}") from None
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1] (weight of the N(0, I) component), got {a}")
    return a


def mixture_of_posteriors(
    posteriors: Mapping[str, dist.Normal],
    present: Mapping[str, Tensor],
    alpha: float = 0.0,
    *,
    estimator: str | None = "pairwise",
    detach: bool = False,
) -> DiagNormalMixture:
    """``h(z | X)``: the available posteriors, then N(0, I) with weight ``alpha``.

    Args:
        posteriors: modality -> element-wise ``Normal`` ``(..., D)``.
        present: modality -> bool availability broadcastable to the posteriors' batch shape.
        alpha: weight of the N(0, I) component, in [0, 1].
        estimator: ``kl_divergence(q, h)`` estimator of the mixture (see `DiagNormalMixture`).
        detach: stop gradients into the components (one-way pull).

    Returns:
        A mixture with batch shape the posteriors' and ``M + 1`` components.
    """
    a = check_alpha(alpha)
    locs = torch.stack([q.loc for q in posteriors.values()], -2)
    scales = torch.stack([q.scale for q in posteriors.values()], -2).expand_as(locs)
    pres = torch.stack(
        [present[m].to(locs.device).bool().expand(locs.shape[:-2]) for m in posteriors], -1
    )
    if detach:
        locs, scales = locs.detach(), scales.detach()
    base = uniform_mixture(locs, scales, pres)
    # log-weights of the posterior components, then of the N(0, I) component
    log_w = base.log_weights + (math.log1p(-a) if a < 1 else float("-inf"))
    log_std = torch.full_like(log_w[..., :1], math.log(a) if a > 0 else float("-inf"))
    zeros = torch.zeros_like(base.locs[..., :1, :])
    return DiagNormalMixture(
        torch.cat([base.locs, zeros], -2),
        torch.cat([base.scales, torch.ones_like(zeros)], -2),
        torch.cat([log_w, log_std], -1),
        kl_estimator=estimator,
    )


class MMVMMixturePrior(FactorisesOverSteps, LatentPrior):
    """The MMVM mixture prior in any static or per-step slot of a model with unimodal posteriors.

    The model fills ``ctx.posteriors`` (modality -> ``Normal`` ``(B, [T,] D)``) and
    ``ctx.present`` (modality -> ``(B,)`` or ``(B, T)`` bool); a slot without them fails at
    construction (:func:`~pyrodyn.priors.base.check_slot`). A scheduled ``alpha`` (e.g. annealed
    from 1 to 0) overrides the constructor's through :meth:`step_distribution`.

    Args:
        latent_dim: D.
        alpha: weight of the N(0, I) component, in [0, 1] (1: independent VAEs).
        estimator: ``KL(q || h)`` under ``MeanFieldELBO``: ``"pairwise"`` (Jensen bound, the
            reference implementation), ``"lse"`` (tighter closed-form bound) or ``"mc"``
            (Monte Carlo, exact in expectation).
        detach_prior: stop gradients into the mixture's components (the paper pulls both ways).
    """

    slot_shapes = frozenset({STATIC, SEQUENCE})
    needs_posteriors = True

    def __init__(
        self,
        latent_dim: int,
        alpha: float = 0.0,
        estimator: str = "pairwise",
        detach_prior: bool = False,
    ) -> None:
        super().__init__(latent_dim)
        if estimator not in KL_ESTIMATORS:
            raise ValueError(
                f"unknown MMVM estimator {estimator!r}; expected one of {list(KL_ESTIMATORS)}"
            )
        self.alpha = check_alpha(alpha)
        self.estimator = estimator
        self.detach_prior = bool(detach_prior)

    def mixture(self, ctx: PriorContext, alpha: float | None = None) -> DiagNormalMixture:
        """``h(z | X)`` from the context's posteriors: batch ``(B,)`` or ``(B, T)``."""
        if not ctx.posteriors or ctx.present is None:
            raise ValueError(
                "MMVMMixturePrior needs the unimodal posteriors of the sample in its context "
                "(ctx.posteriors and ctx.present); this slot's model provides none"
            )
        sizes = {m: q.loc.shape[-1] for m, q in ctx.posteriors.items()}
        if set(sizes.values()) != {self.latent_dim}:
            raise ValueError(
                f"MMVMMixturePrior has latent_dim {self.latent_dim}, the posteriors in its "
                f"context have sizes {sizes}"
            )
        return mixture_of_posteriors(
            ctx.posteriors,
            ctx.present,
            self.alpha if alpha is None else alpha,
            estimator=self.estimator,
            detach=self.detach_prior,
        )

    def step_distribution(self, ctx: PriorContext, **options: Any) -> DiagNormalMixture:
        """The mixture per step (``options["alpha"]`` overrides the N(0, I) weight)."""
        return self.mixture(ctx, options.get("alpha"))

    def distribution(self, ctx: PriorContext) -> dist.TorchDistribution:
        """The mixture folded to batch ``(B,)`` (steps beyond each length masked)."""
        h = self.mixture(ctx)
        if ctx.num_steps is None:
            return h
        mask = ctx.step_mask()
        return (h if mask is None else h.mask(mask)).to_event(1)

    def extra_repr(self) -> str:
        """Summary for ``repr``."""
        return f"latent_dim={self.latent_dim}, alpha={self.alpha}, estimator={self.estimator!r}"


__all__ = ["MMVMMixturePrior", "check_alpha", "mixture_of_posteriors"]
