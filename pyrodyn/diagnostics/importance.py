"""Importance-weighted diagnostics of a variational fit, with trials as the units.

For each trial ``i`` and guide draws ``z_1..z_K ~ q(z | x_i)`` the log ratios are
``log w_k = log p(x_i, z_k) - log q(z_k | x_i)``. From them:

* the IWAE bound ``log (1/K) sum_k w_k`` (Burda, Grosse and Salakhutdinov, "Importance
  Weighted Autoencoders", ICLR 2016): a lower bound on ``log p(x_i)`` that increases with ``K``
  and equals the ELBO at ``K = 1``;
* the PSIS k-hat of the ratios (Yao, Vehtari, Simpson and Gelman, "Yes, but did it work?:
  Evaluating variational inference", ICML 2018): ``k > 0.7`` means the guide misses mass that the
  posterior has, and the importance-weighted estimates of that trial cannot be trusted;
* the effective sample size of the (self-normalised) weights.

These apply only to models whose objective is the ELBO of their model/guide pair (``is_elbo``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.diagnostics.psis import (
    CONSTANT_RTOL,
    KHAT_THRESHOLD,
    effective_sample_size,
    psis,
    tail_length,
)
from pyrodyn.diagnostics.sampling import PosteriorDraws, draw_posterior
from pyrodyn.models.base import GenerativeModel


def iwae_bound(log_weights: np.ndarray, num_particles: int | None = None) -> np.ndarray:
    """IWAE bound with ``K`` particles per trial, ``(S, B) -> (B,)``.

    With ``S`` draws and ``K <= S`` the bound is averaged over the ``S // K`` disjoint groups of
    ``K`` draws (an unbiased estimate of ``E[IWAE_K]``).

    Args:
        log_weights: ``(S, B)`` log importance ratios.
        num_particles: K (default S).
    """
    lw = np.asarray(log_weights, dtype=np.float64)
    s = lw.shape[0]
    k = s if num_particles is None else num_particles
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"num_particles (K) must be an integer >= 1, got {k!r}")
    if k > s:
        raise ValueError(f"num_particles K={k} exceeds the {s} available draws")
    groups = lw[: (s // k) * k].reshape(s // k, k, *lw.shape[1:])
    mx = groups.max(axis=1, keepdims=True)
    lme = np.log(np.exp(groups - mx).mean(axis=1)) + mx[:, 0]
    return lme.mean(axis=0)


@dataclass
class ImportanceDiagnostics:
    """Per-trial importance diagnostics (arrays are ``(B,)``).

    Attributes:
        num_particles: K, the draws per trial.
        iwae: IWAE bound with K particles.
        elbo: Monte-Carlo ELBO (mean log ratio, the K = 1 bound).
        khat: PSIS k-hat of the ratios.
        ess: effective sample size of the Pareto-smoothed weights (out of K).
        trial: index of each trial in the source data.
        start: step of the source trial at which each row starts (windows of a recording), or
            None (whole trials); rows are labelled ``(trial, start)``.
        amortisation_gap: ELBO gained by refining the guide per trial (None if unavailable).
        constant: trials whose ratios are constant (the guide is exact there; k-hat is inf by
            convention and the trial is not flagged).
    """

    num_particles: int
    iwae: np.ndarray
    elbo: np.ndarray
    khat: np.ndarray
    ess: np.ndarray
    trial: np.ndarray
    amortisation_gap: np.ndarray | None = None
    constant: np.ndarray | None = None
    start: np.ndarray | None = None

    @property
    def khat_estimable(self) -> bool:
        """Whether K is large enough for a Pareto tail fit (K >= 25, 5 tail draws)."""
        return tail_length(self.num_particles) >= 5

    def flagged(self, threshold: float = KHAT_THRESHOLD) -> np.ndarray:
        """Positions of the trials whose k-hat exceeds ``threshold``.

        Trials with constant ratios are not flagged, and nothing is flagged when K is too small
        for k-hat to be estimated (see :attr:`khat_estimable`).
        """
        if not self.khat_estimable:
            return np.array([], dtype=np.int64)
        bad = self.khat > threshold
        if self.constant is not None:
            bad &= ~self.constant
        return np.flatnonzero(bad)

    def summary(self, threshold: float = KHAT_THRESHOLD) -> dict:
        """Plain-data summary for ``diagnostics.json``."""
        finite = self.khat[np.isfinite(self.khat)]
        flagged = set(self.flagged(threshold).tolist())
        out = {
            "num_particles": int(self.num_particles),
            "num_trials": int(self.iwae.shape[0]),
            "iwae_mean": float(self.iwae.mean()),
            "elbo_mean": float(self.elbo.mean()),
            "khat_max": float(self.khat.max()),
            "khat_median": float(np.median(finite)) if finite.size else math.inf,
            "khat_threshold": float(threshold),
            "num_flagged": len(self.flagged(threshold)),
            "num_constant": 0 if self.constant is None else int(self.constant.sum()),
            "ess_mean": float(self.ess.mean()),
            "per_trial": [
                {
                    "trial": int(self.trial[i]),
                    "iwae": float(self.iwae[i]),
                    "elbo": float(self.elbo[i]),
                    "khat": float(self.khat[i]),
                    "ess": float(self.ess[i]),
                    "flagged": i in flagged,
                }
                for i in range(self.iwae.shape[0])
            ],
        }
        if self.start is not None:
            for row, start in zip(out["per_trial"], self.start):
                row["start"] = int(start)
        if not self.khat_estimable:
            out["khat_note"] = (
                f"k-hat needs K >= 25 draws per trial for a Pareto tail fit; K = "
                f"{self.num_particles} gives inf (not estimated), so no trial is flagged"
            )
        if self.amortisation_gap is not None:
            out["amortisation_gap_mean"] = float(self.amortisation_gap.mean())
            for row, gap in zip(out["per_trial"], self.amortisation_gap):
                row["amortisation_gap"] = float(gap)
        return out


def importance_from_draws(draws: PosteriorDraws) -> ImportanceDiagnostics:
    """Importance diagnostics from existing draws (K = their number of draws)."""
    lw = draws.log_weights
    if lw.shape[0] < 2:
        raise ValueError(f"importance diagnostics need K >= 2 draws per trial, got {lw.shape[0]}")
    smoothed, khat = psis(lw.T)
    spread = lw.max(axis=0) - lw.min(axis=0)
    constant = spread <= CONSTANT_RTOL * np.maximum(1.0, np.abs(lw).max(axis=0))
    trial = np.arange(lw.shape[1]) if draws.source_trial is None else np.asarray(draws.source_trial)
    return ImportanceDiagnostics(
        num_particles=int(lw.shape[0]),
        iwae=iwae_bound(lw),
        elbo=lw.mean(axis=0),
        khat=khat,
        ess=effective_sample_size(smoothed),
        trial=trial,
        constant=constant,
        start=None if draws.source_start is None else np.asarray(draws.source_start),
    )


def check_elbo_model(model: GenerativeModel) -> None:
    """Raises ``ValueError`` for models whose objective is not an ELBO (``is_elbo = False``)."""
    if not isinstance(model, GenerativeModel):
        raise TypeError(
            f"importance diagnostics need a GenerativeModel, got {type(model).__name__}"
        )
    if not model.is_elbo:
        raise ValueError(
            f"{type(model).__name__} is not trained on an ELBO (is_elbo=False): importance "
            "diagnostics (IWAE, PSIS k-hat, ESS) do not apply to its guide"
        )


def importance_diagnostics(
    model: GenerativeModel, batch: MultimodalBatch, num_particles: int = 100
) -> ImportanceDiagnostics:
    """IWAE, PSIS k-hat and ESS per trial of ``batch`` with ``K`` guide draws each.

    Args:
        model: a fitted model with ``is_elbo = True``.
        batch: the trials (see :func:`~pyrodyn.diagnostics.sampling.select_trials`).
        num_particles: K >= 2 (k-hat needs at least 5 tail draws: K >= 25 for a finite value).

    Raises:
        ValueError: for K < 2 or a model that is not an ELBO model.
    """
    if not isinstance(num_particles, (int, np.integer)) or num_particles < 2:
        raise ValueError(
            f"num_particles (K) must be an integer >= 2 for importance diagnostics, got "
            f"{num_particles!r}"
        )
    check_elbo_model(model)
    draws = draw_posterior(model, batch, int(num_particles), predictive=False)
    return importance_from_draws(draws)
