"""Estimators of KL(q || mixture of diagonal Gaussians), as in the MMVM VAE.

Sutter et al., "Unity by Diversity: Improved Representation Learning in Multimodal VAEs"
(NeurIPS 2024). For ``q = N(mu, diag sigma^2)`` and ``h = sum_k pi_k p_k`` three estimators order as
``mc <= lse <= pairwise`` (spec mmvm.md 1.5):

* ``pairwise``: ``sum_k pi_k KL(q || p_k)``, the Jensen upper bound the reference code optimises;
  unbounded as the posteriors separate.
* ``lse``: ``-log sum_k pi_k exp(-KL(q || p_k))``, a tighter closed-form upper bound (convexity of
  log-sum-exp); at most ``-log pi_self`` when ``q`` is one of the components.
* ``mc``: ``log q(z) - log h(z)`` with ``z ~ q``, unbiased for the exact KL.

:mod:`pyrodyn.distributions.diag_normal_mixture` registers ``kl_divergence(Independent(Normal),
DiagNormalMixture)`` with these: it returns the estimator named by the mixture's
``kl_estimator`` (``pairwise``/``lse``) and raises ``NotImplementedError`` otherwise, so callers
such as ``TraceMeanField_ELBO`` fall back to Monte Carlo, which is the ``mc`` estimator. The
functions take any mixture with ``locs``/``scales`` ``(*batch, K, D)``, ``weights``,
``log_weights`` and ``log_prob`` (duck-typed, so this module does not import the class).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.distributions import Normal

#: Names of the estimators of KL(q || mixture).
KL_ESTIMATORS: tuple[str, ...] = ("pairwise", "lse", "mc")


def gaussian_kl(q_loc: Tensor, q_scale: Tensor, p_loc: Tensor, p_scale: Tensor) -> Tensor:
    """``KL(N(q_loc, q_scale^2) || N(p_loc, p_scale^2))`` summed over the last dim ``(..., D)``."""
    var_ratio = (q_scale / p_scale) ** 2
    t1 = ((q_loc - p_loc) / p_scale) ** 2
    return 0.5 * (var_ratio + t1 - 1.0 - var_ratio.log()).sum(-1)


def component_kls(q_loc: Tensor, q_scale: Tensor, mixture: Any) -> Tensor:
    """``KL(q || p_k)`` for every component: q ``(*batch, D)`` -> ``(*batch, K)``."""
    return gaussian_kl(q_loc.unsqueeze(-2), q_scale.unsqueeze(-2), mixture.locs, mixture.scales)


def kl_pairwise(q_loc: Tensor, q_scale: Tensor, mixture: Any) -> Tensor:
    """Jensen bound ``sum_k pi_k KL(q || p_k)`` ``(*batch)``; absent components count 0."""
    kls = component_kls(q_loc, q_scale, mixture)
    w = mixture.weights
    return torch.where(w > 0, w * kls, torch.zeros_like(kls)).sum(-1)


def kl_lse(q_loc: Tensor, q_scale: Tensor, mixture: Any) -> Tensor:
    """Log-sum-exp bound ``-log sum_k pi_k exp(-KL(q || p_k))`` ``(*batch)``."""
    kls = component_kls(q_loc, q_scale, mixture)
    return -torch.logsumexp(mixture.log_weights - kls, -1)


def kl_mc(
    q_loc: Tensor,
    q_scale: Tensor,
    mixture: Any,
    *,
    num_samples: int = 1,
    value: Tensor | None = None,
) -> Tensor:
    """Monte-Carlo ``mean_s [log q(z_s) - log h(z_s)]``, ``z_s ~ q`` reparameterised ``(*batch)``.

    Args:
        q_loc: ``(*batch, D)``.
        q_scale: ``(*batch, D)``.
        mixture: the mixture ``h``.
        num_samples: S, used when ``value`` is None.
        value: given samples ``(S, *batch, D)`` or ``(*batch, D)`` (e.g. the decoder's sample).
    """
    if value is None:
        if int(num_samples) < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        eps = torch.randn((int(num_samples), *q_loc.shape), dtype=q_loc.dtype, device=q_loc.device)
        value = q_loc + q_scale * eps
    log_q = Normal(q_loc, q_scale).log_prob(value).sum(-1)
    kl = log_q - mixture.log_prob(value)
    return kl.mean(0) if kl.dim() > q_loc.dim() - 1 else kl


def kl_estimate(
    q_loc: Tensor,
    q_scale: Tensor,
    mixture: Any,
    estimator: str,
    *,
    num_samples: int = 1,
    value: Tensor | None = None,
) -> Tensor:
    """Dispatches to :func:`kl_pairwise`, :func:`kl_lse` or :func:`kl_mc` by name."""
    if estimator == "pairwise":
        return kl_pairwise(q_loc, q_scale, mixture)
    if estimator == "lse":
        return kl_lse(q_loc, q_scale, mixture)
    if estimator == "mc":
        return kl_mc(q_loc, q_scale, mixture, num_samples=num_samples, value=value)
    raise ValueError(f"unknown KL estimator {estimator!r}; expected one of {list(KL_ESTIMATORS)}")


__all__ = [
    "KL_ESTIMATORS",
    "component_kls",
    "gaussian_kl",
    "kl_estimate",
    "kl_lse",
    "kl_mc",
    "kl_pairwise",
]
