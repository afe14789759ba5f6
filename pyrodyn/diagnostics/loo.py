"""Importance-sampled leave-one-trial-out predictive accuracy per modality.

Trials are the units. A trial's latents are informed only by that trial's data, so with the
fitted networks held fixed (they are point estimates; refitting without the trial is not
attempted) the leave-trial-out predictive density of modality ``m`` of trial ``i`` is its
marginal likelihood under the model,

``p(x_{i,m} | x_{-i}) = p(x_{i,m}) = E_{p(z)}[p(x_{i,m} | z)]``,

estimated by importance sampling with the guide as proposal: with ``z_s ~ q(z | x_i)`` and
ratios ``r_s = p(x_{i,m} | z_s) p(z_s) / q(z_s | x_i)``, ``elpd_{i,m} = log (1/S) sum_s r_s``
(an IWAE-type estimate that is a lower bound in expectation; for a one-modality model it is the
trial's IWAE). The PSIS k-hat of ``r`` (Vehtari, Gelman and Gabry, "Practical Bayesian model
evaluation using leave-one-out cross-validation and WAIC", Statistics and Computing 2017; Vehtari
et al., JMLR 2024) says whether the estimate can be trusted (``k < 0.7``). Models with the same
support for modality ``m`` (Poisson, negative binomial and zero-inflated Poisson counts) are
compared by the summed elpd with the paired standard error over trials (:func:`compare`). The
in-sample ``lppd_{i,m} = log E_{p(z | x_i)}[p(x_{i,m} | z)]`` gives ``p_loo``: how much the
trial's own data sharpen the prediction of its modality ``m``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pyrodyn.diagnostics.psis import KHAT_THRESHOLD, psis
from pyrodyn.diagnostics.sampling import PosteriorDraws


@dataclass
class LooResult:
    """LOO of one modality (per-trial arrays ``(B,)``).

    Attributes:
        modality: the modality left out.
        pointwise: ``elpd_i = log p(x_{i,m} | x_{-i})``.
        khat: PSIS k-hat of the importance ratios.
        lppd: ``log p(x_{i,m} | x_i)`` (in-sample, for ``p_loo``).
        trial: index of each trial in the source data.
    """

    modality: str
    pointwise: np.ndarray
    khat: np.ndarray
    lppd: np.ndarray
    trial: np.ndarray

    @property
    def elpd(self) -> float:
        """Sum of the pointwise elpd over trials."""
        return float(self.pointwise.sum())

    @property
    def se(self) -> float:
        """Standard error of :attr:`elpd` (``sqrt(B var(elpd_i))``)."""
        n = self.pointwise.shape[0]
        return float(math.sqrt(n * self.pointwise.var(ddof=1))) if n > 1 else math.nan

    @property
    def p_loo(self) -> float:
        """Effective number of parameters ``sum(lppd_i - elpd_i)``."""
        return float((self.lppd - self.pointwise).sum())

    def summary(self, threshold: float = KHAT_THRESHOLD) -> dict:
        """Plain-data summary for ``diagnostics.json``."""
        return {
            "elpd_loo": self.elpd,
            "se": self.se,
            "p_loo": self.p_loo,
            "num_trials": int(self.pointwise.shape[0]),
            "khat_max": float(self.khat.max()),
            "num_khat_above_threshold": int((self.khat > threshold).sum()),
        }


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    mx = np.max(x, axis=axis, keepdims=True)
    mx = np.where(np.isfinite(mx), mx, 0.0)
    return np.squeeze(mx, axis) + np.log(np.exp(x - mx).sum(axis=axis))


def loo(draws: PosteriorDraws, modality: str) -> LooResult:
    """PSIS-LOO of one modality from guide draws (see the module docstring).

    Args:
        draws: at least 2 draws per trial (a finite k-hat needs 25 or more).
        modality: a modality of the draws.

    Raises:
        ValueError: for an unknown modality or fewer than 2 draws.
    """
    if modality not in draws.log_lik:
        raise ValueError(f"unknown modality {modality!r}; the draws have {draws.modalities}")
    if draws.num_samples < 2:
        raise ValueError(f"LOO needs at least 2 draws per trial, got {draws.num_samples}")
    lw = draws.log_weights  # (S, B)
    ll = draws.trial_log_lik(modality)
    ratios = (ll + draws.log_prior - draws.log_q).T  # (B, S)
    _, khat = psis(ratios)
    pointwise = _logsumexp(ratios, axis=1) - np.log(ratios.shape[1])
    full_lw, _ = psis(lw.T)
    lppd = _logsumexp(full_lw + ll.T, axis=1)
    trial = np.arange(lw.shape[1]) if draws.source_trial is None else np.asarray(draws.source_trial)
    return LooResult(modality, pointwise, khat, lppd, trial)


def loo_all(draws: PosteriorDraws) -> dict[str, LooResult]:
    """:func:`loo` for every modality."""
    return {m: loo(draws, m) for m in draws.modalities}


def compare(results: Mapping[str, LooResult]) -> list[dict]:
    """Ranks models fitted to the same trials by elpd of one modality.

    Args:
        results: model name -> LOO result of the same modality on the same trials.

    Returns:
        Rows sorted best first: ``name, elpd, se, elpd_diff, se_diff`` (the difference to the
        best model and its paired standard error over trials).
    """
    if not results:
        raise ValueError("compare needs at least one LOO result")
    sizes = {k: r.pointwise.shape[0] for k, r in results.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"LOO results must cover the same trials, got sizes {sizes}")
    ranked = sorted(results.items(), key=lambda kv: -kv[1].elpd)
    best = ranked[0][1].pointwise
    rows = []
    for name, r in ranked:
        diff = r.pointwise - best
        n = diff.shape[0]
        se_diff = float(math.sqrt(n * diff.var(ddof=1))) if n > 1 else math.nan
        rows.append(
            {
                "name": name,
                "elpd": r.elpd,
                "se": r.se,
                "elpd_diff": float(diff.sum()),
                "se_diff": se_diff,
            }
        )
    return rows
