"""Posterior diagnostics of fitted models (the only part of pyrodyn that uses ArviZ).

ArviZ export, importance-weighted checks of the guide (IWAE, PSIS k-hat, ESS, amortisation gap),
leave-one-trial-out per modality, posterior predictive checks, simulation-based calibration of
the amortised posterior (:func:`sbc`) and leave-future-out cross-validation of dynamical models
(:func:`lfo`); exact Kalman filtering and RTS smoothing of linear-Gaussian state-space models,
the ground truth these are tested against.

Only :mod:`pyrodyn.diagnostics.arviz_adapter` imports ArviZ.
"""

from pyrodyn.diagnostics.amortisation import amortisation_gap
from pyrodyn.diagnostics.diagnose import diagnose
from pyrodyn.diagnostics.importance import (
    ImportanceDiagnostics,
    importance_diagnostics,
    importance_from_draws,
    iwae_bound,
)
from pyrodyn.diagnostics.inference_data import draws_to_inference_data, to_inference_data
from pyrodyn.diagnostics.kalman import (
    KalmanFilterResult,
    KalmanSmootherResult,
    LinearGaussianSSM,
    kalman_filter,
    kalman_smoother,
    posterior_log_prob,
    posterior_sample,
    rts_smoother,
)
from pyrodyn.diagnostics.lfo import LFOResult, lfo
from pyrodyn.diagnostics.loo import LooResult, compare, loo, loo_all
from pyrodyn.diagnostics.ppc import coverage, dynamics_checks, pit, ppc_summary
from pyrodyn.diagnostics.psis import KHAT_THRESHOLD, effective_sample_size, psis
from pyrodyn.diagnostics.sampling import PosteriorDraws, draw_posterior, select_trials
from pyrodyn.diagnostics.sbc import SBCResult, sbc

__all__ = [
    "KHAT_THRESHOLD",
    "ImportanceDiagnostics",
    "KalmanFilterResult",
    "KalmanSmootherResult",
    "LFOResult",
    "LinearGaussianSSM",
    "LooResult",
    "PosteriorDraws",
    "SBCResult",
    "amortisation_gap",
    "compare",
    "coverage",
    "diagnose",
    "draw_posterior",
    "draws_to_inference_data",
    "dynamics_checks",
    "effective_sample_size",
    "importance_diagnostics",
    "importance_from_draws",
    "iwae_bound",
    "kalman_filter",
    "kalman_smoother",
    "lfo",
    "loo",
    "loo_all",
    "pit",
    "posterior_log_prob",
    "posterior_sample",
    "ppc_summary",
    "psis",
    "rts_smoother",
    "sbc",
    "select_trials",
    "to_inference_data",
]
