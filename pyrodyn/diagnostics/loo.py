"""Leave-one-trial-out predictive accuracy per modality, by two named estimators.

Trials (or windows of a recording) are the units: one observation is modality ``m`` of trial
``i``, ``x_{i,m}``, with ``log p(x_{i,m} | z)`` summed over its steps and features. The fitted
networks are held fixed (point estimates; refitting without the trial is not attempted), so only
the trial's own latents ``z_i`` carry its information. From ``S`` guide draws
``z_s ~ q(z | x_i)``:

* ``psis_loo`` (:func:`psis_loo`): ArviZ's PSIS-LOO (``az.loo``, Vehtari, Gelman and Gabry,
  "Practical Bayesian model evaluation using leave-one-out cross-validation and WAIC", Statistics
  and Computing 2017) with the guide draws taken as posterior draws: ``elpd_{i,m} = log sum_s
  w_s p(x_{i,m} | z_s)`` with ``w`` the Pareto-smoothed, normalised ``1 / p(x_{i,m} | z_s)``. It
  estimates ``log p(x_{i,m} | x_{i,-m})``, the prediction of modality ``m`` from the trial's other
  modalities (``log p(x_i)`` for a one-modality model), and is exact only as far as the guide is
  the posterior. It is what ``az.loo(posterior.nc, var_name=m)`` gives, number for number, with
  ArviZ's ``p_loo`` (effective number of parameters) and k-hat.
* ``is_marginal`` (:func:`loo`): importance sampling with the guide as proposal, ratios
  ``r_s = p(x_{i,m} | z_s) p(z_s) / q(z_s | x_i)`` and ``elpd_{i,m} = log (1/S) sum_s r_s``: an
  IWAE-type estimate of ``log p(x_{i,m})`` (the trial's IWAE for a one-modality model) that
  corrects for the guide, a lower bound in expectation. ``posterior.nc`` stores its ratios
  (``sample_stats.log_ratio_<m>``).

The PSIS k-hat of each estimator's ratios says whether it can be trusted (``k < 0.7``; Vehtari et
al., "Pareto Smoothed Importance Sampling", JMLR 2024). Both agree for a one-modality model whose
guide is the exact posterior. Models with the same support for modality ``m`` are compared by the
summed elpd with the paired standard error over trials (:func:`compare`); standard errors follow
ArviZ (``sqrt(N var(elpd_i))``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pyrodyn.diagnostics import arviz_adapter
from pyrodyn.diagnostics.psis import KHAT_THRESHOLD, psis
from pyrodyn.diagnostics.sampling import PosteriorDraws

#: ArviZ's PSIS-LOO over guide draws taken as posterior draws (``az.loo`` on ``posterior.nc``).
PSIS_LOO = "psis_loo"
#: Importance sampling from the guide per trial: an estimate of ``log p(x_{i,m})``.
IS_MARGINAL = "is_marginal"

#: What each estimator is, in words, for reports.
ESTIMATORS = {
    PSIS_LOO: "PSIS-LOO over the guide draws as posterior draws (= az.loo on posterior.nc)",
    IS_MARGINAL: "importance sampling from the guide per trial (log p(x_m), guide-corrected)",
}


@dataclass
class LooResult:
    """LOO of one modality (per-trial arrays ``(B,)``).

    Attributes:
        modality: the modality left out.
        pointwise: ``elpd_i`` of the estimator.
        khat: PSIS k-hat of the estimator's importance ratios.
        lppd: in-sample ``log p(x_{i,m} | x_i)`` (for ``p_loo``).
        trial: index of each trial in the source data.
        estimator: :data:`PSIS_LOO` or :data:`IS_MARGINAL`.
        start: step of the source trial at which each row starts (windows), or None.
    """

    modality: str
    pointwise: np.ndarray
    khat: np.ndarray
    lppd: np.ndarray
    trial: np.ndarray
    estimator: str = IS_MARGINAL
    start: np.ndarray | None = None

    @property
    def elpd(self) -> float:
        """Sum of the pointwise elpd over trials."""
        return float(self.pointwise.sum())

    @property
    def se(self) -> float:
        """Standard error of :attr:`elpd`, ``sqrt(B var(elpd_i))`` as ArviZ computes it."""
        n = self.pointwise.shape[0]
        return float(math.sqrt(n * self.pointwise.var())) if n > 1 else math.nan

    @property
    def p_loo(self) -> float:
        """``sum(lppd_i - elpd_i)``.

        ArviZ's effective number of parameters for :data:`PSIS_LOO`; for :data:`IS_MARGINAL`
        it is how much the trial's own data sharpen its prediction (close to
        ``log q - log p(z) + log S`` when one draw dominates), not a number of parameters.
        """
        return float((self.lppd - self.pointwise).sum())

    def summary(self, threshold: float = KHAT_THRESHOLD) -> dict:
        """Plain-data summary for ``diagnostics.json`` (``p_loo`` for :data:`PSIS_LOO` only)."""
        out = {
            "estimator": self.estimator,
            "elpd_loo": self.elpd,
            "se": self.se,
            "num_trials": int(self.pointwise.shape[0]),
            "khat_max": float(self.khat.max()),
            "num_khat_above_threshold": int((self.khat > threshold).sum()),
        }
        if self.estimator == PSIS_LOO:
            out["p_loo"] = self.p_loo
        return out


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    mx = np.max(x, axis=axis, keepdims=True)
    mx = np.where(np.isfinite(mx), mx, 0.0)
    return np.squeeze(mx, axis) + np.log(np.exp(x - mx).sum(axis=axis))


def _check(draws: PosteriorDraws, modality: str) -> None:
    if modality not in draws.log_lik:
        raise ValueError(f"unknown modality {modality!r}; the draws have {draws.modalities}")
    if draws.num_samples < 2:
        raise ValueError(f"LOO needs at least 2 draws per trial, got {draws.num_samples}")


def _labels(draws: PosteriorDraws) -> tuple[np.ndarray, np.ndarray | None]:
    b = draws.num_trials
    trial = np.arange(b) if draws.source_trial is None else np.asarray(draws.source_trial)
    start = None if draws.source_start is None else np.asarray(draws.source_start)
    return trial, start


def loo(draws: PosteriorDraws, modality: str) -> LooResult:
    """The :data:`IS_MARGINAL` estimate of one modality from guide draws (module docstring).

    Args:
        draws: at least 2 draws per trial (a finite k-hat needs 25 or more).
        modality: a modality of the draws.

    Raises:
        ValueError: for an unknown modality or fewer than 2 draws.
    """
    _check(draws, modality)
    lw = draws.log_weights  # (S, B)
    ll = draws.trial_log_lik(modality)
    ratios = (ll + draws.log_prior - draws.log_q).T  # (B, S)
    _, khat = psis(ratios)
    pointwise = _logsumexp(ratios, axis=1) - np.log(ratios.shape[1])
    full_lw, _ = psis(lw.T)
    lppd = _logsumexp(full_lw + ll.T, axis=1)
    trial, start = _labels(draws)
    return LooResult(modality, pointwise, khat, lppd, trial, IS_MARGINAL, start)


def psis_loo(draws: PosteriorDraws, modality: str) -> LooResult:
    """The :data:`PSIS_LOO` estimate of one modality: ArviZ's ``az.loo`` (module docstring).

    Computed by ArviZ on the trial-level log-likelihood that ``posterior.nc`` stores, so
    ``az.loo(posterior.nc, var_name=modality)`` gives the same numbers.

    Args:
        draws: at least 2 draws per trial (a finite k-hat needs 25 or more).
        modality: a modality of the draws.

    Raises:
        ValueError: for an unknown modality or fewer than 2 draws.
    """
    _check(draws, modality)
    ll = draws.trial_log_lik(modality)  # (S, B)
    res = arviz_adapter.psis_loo(ll)
    lppd = _logsumexp(ll.T, axis=1) - np.log(ll.shape[0])
    trial, start = _labels(draws)
    return LooResult(modality, res["elpd_i"], res["khat"], lppd, trial, PSIS_LOO, start)


def loo_all(draws: PosteriorDraws) -> dict[str, LooResult]:
    """:func:`loo` (:data:`IS_MARGINAL`) for every modality."""
    return {m: loo(draws, m) for m in draws.modalities}


def loo_summary(draws: PosteriorDraws, threshold: float = KHAT_THRESHOLD) -> dict[str, dict]:
    """Both estimators per modality for ``diagnostics.json``.

    Returns:
        modality -> the :data:`PSIS_LOO` summary (the numbers ``az.loo`` gives on
        ``posterior.nc``) with the :data:`IS_MARGINAL` summary under ``"is_marginal"``.
    """
    out = {}
    for m in draws.modalities:
        row = psis_loo(draws, m).summary(threshold)
        row[IS_MARGINAL] = loo(draws, m).summary(threshold)
        out[m] = row
    return out


def compare(results: Mapping[str, LooResult]) -> list[dict]:
    """Ranks models fitted to the same trials by elpd of one modality.

    Args:
        results: model name -> LOO result of the same modality on the same trials.

    Returns:
        Rows sorted best first: ``name, elpd, se, elpd_diff, se_diff`` (the difference to the
        best model and its paired standard error over trials, ``sqrt(B var(diff_i))`` as
        ``az.compare`` computes it).
    """
    if not results:
        raise ValueError("compare needs at least one LOO result")
    sizes = {k: r.pointwise.shape[0] for k, r in results.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"LOO results must cover the same trials, got sizes {sizes}")
    kinds = {k: r.estimator for k, r in results.items()}
    if len(set(kinds.values())) != 1:
        raise ValueError(f"LOO results must come from one estimator, got {kinds}")
    ranked = sorted(results.items(), key=lambda kv: -kv[1].elpd)
    best = ranked[0][1].pointwise
    rows = []
    for name, r in ranked:
        diff = r.pointwise - best
        n = diff.shape[0]
        se_diff = float(math.sqrt(n * diff.var())) if n > 1 else math.nan
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
