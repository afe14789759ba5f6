"""MMVM fusion: each modality's latent is pulled toward the mixture of all unimodal posteriors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyro.distributions as dist
import torch
from torch import Tensor

from pyrodyn.distributions.diag_normal_mixture import (
    KL_ESTIMATORS,
    DiagNormalMixture,
    standard_normal_where_absent,
)
from pyrodyn.distributions.mixture_kl import kl_estimate
from pyrodyn.nn.fusion.independent import Independent
from pyrodyn.priors.mixture import MMVMMixturePrior, check_alpha, mixture_of_posteriors


class MMVM(Independent):
    """Mixture-of-multimodal-posteriors prior (Sutter et al., "Unity by Diversity", NeurIPS 2024).

    Every modality keeps its own latent ``z_m ~ q_m(z | x_m)``, decoded only by decoder ``m``. The
    model's prior of ``z_m`` is data-dependent::

        h(z_m | X) = alpha N(0, I) + (1 - alpha) / M' sum_{m' available} q_{m'}(z_m | x_{m'})

    (the modality's own posterior included), so ``sum_m KL(q_m || h)`` softly aligns the unimodal
    posteriors. ``alpha = 1`` gives independent VAEs; the reference PolyMNIST runs use
    ``alpha = 0``, CelebA anneals it from 1 to 0 (pass ``alpha`` as a scheduled value, e.g.
    ``fit(schedules={"alpha": ...})``). In a composed model the prior is the slot prior
    :meth:`default_prior` (:class:`~pyrodyn.priors.mixture.MMVMMixturePrior`, which
    ``MultimodalVAE`` uses); :meth:`prior_distributions` and :meth:`regularizer` give the same
    mixture to models that regularise with it directly (MTF, LaDID). The objective is not an
    ELBO: compare fusions by held-out metrics, never by training loss.

    Args:
        alpha: weight of the N(0, I) component, in [0, 1].
        estimator: KL(q_m || h) estimator: ``"pairwise"`` (Jensen bound
            ``sum_k pi_k KL(q_m || p_k)``, the reference implementation, default), ``"lse"``
            (tighter closed-form bound) or ``"mc"`` (Monte Carlo, exact in expectation).
        detach_prior: stop gradients through the prior's components (one-way pull, VampPrior
            style); the paper uses the two-way pull (False).
        num_samples: Monte-Carlo samples of :meth:`regularizer` with ``estimator="mc"``.
    """

    def __init__(
        self,
        alpha: float = 0.0,
        estimator: str = "pairwise",
        detach_prior: bool = False,
        num_samples: int = 1,
    ) -> None:
        super().__init__()
        if estimator not in KL_ESTIMATORS:
            raise ValueError(
                f"unknown MMVM estimator {estimator!r}; expected one of {list(KL_ESTIMATORS)}"
            )
        if int(num_samples) < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        self.alpha = check_alpha(alpha)
        self.estimator = estimator
        self.detach_prior = bool(detach_prior)
        self.num_samples = int(num_samples)

    def prior_mixture(
        self,
        posteriors: Mapping[str, dist.Normal],
        present: Mapping[str, Tensor],
        alpha: float | None = None,
    ) -> DiagNormalMixture:
        """``h(z | X)``: components are the M unimodal posteriors then N(0, I), batch ``(B, [T])``.

        Args:
            posteriors: unimodal posteriors ``(B, [T,] D)``.
            present: availability ``(B,)`` or ``(B, T)``.
            alpha: overrides the constructor's N(0, I) weight (scheduled annealing).
        """
        a = self.alpha if alpha is None else check_alpha(alpha)
        self.check(posteriors, present)
        return mixture_of_posteriors(
            posteriors, present, a, estimator=self.estimator, detach=self.detach_prior
        )

    def default_prior(self, latent_dim: int) -> MMVMMixturePrior:
        """The mixture prior as a `LatentPrior` of the model's slots (same alpha and estimator)."""
        return MMVMMixturePrior(
            latent_dim, alpha=self.alpha, estimator=self.estimator, detach_prior=self.detach_prior
        )

    def prior_distributions(
        self,
        posteriors: Mapping[str, dist.Normal],
        present: Mapping[str, Tensor],
        prior: dist.Distribution | None = None,
        **options: Any,
    ) -> dict[str, dist.Distribution]:
        """``{m: h(z_m | X)}``; the same mixture for every modality's latent.

        ``prior`` (a fixed base prior) is ignored: MMVM's prior is built from the posteriors.
        ``options["alpha"]`` overrides the N(0, I) weight.
        """
        h = self.prior_mixture(posteriors, present, options.get("alpha"))
        return {m: h for m in posteriors}

    def regularizer(
        self, posteriors: Mapping[str, dist.Normal], present: Mapping[str, Tensor], **options: Any
    ) -> Tensor:
        """``sum_{m available} KL(q_m || h)`` with the chosen estimator, ``(B, [T])``.

        Options: ``alpha`` (scheduled N(0, I) weight), ``values`` (modality -> samples
        ``(B, [T,] D)`` of ``q_m`` reused by the ``mc`` estimator, e.g. the decoder's sample).
        """
        h = self.prior_mixture(posteriors, present, options.get("alpha"))
        values = options.get("values") or {}
        total = None
        for m, q in posteriors.items():
            here = present[m].to(q.loc.device).bool().expand(q.loc.shape[:-1])
            # a missing row's posterior (NaN, say) must not reach the gradients: 0 * NaN is NaN;
            # q's arguments were checked when it was built
            loc, scale = standard_normal_where_absent(q.loc, q.scale, here)
            q = dist.Normal(loc, scale, validate_args=False)
            value = values.get(m)
            if value is not None:
                value = torch.where(here[..., None], value, torch.zeros_like(value))
            kl = torch.where(here, self.kl(q, h, value=value), 0.0)
            total = kl if total is None else total + kl
        return total

    def kl(self, q: dist.Normal, h: DiagNormalMixture, value: Tensor | None = None) -> Tensor:
        """``KL(q || h)`` by :attr:`estimator`; q element-wise ``(B, [T,] D)`` -> ``(B, [T])``."""
        return kl_estimate(
            q.loc, q.scale, h, self.estimator, num_samples=self.num_samples, value=value
        )


__all__ = ["MMVM", "check_alpha"]
