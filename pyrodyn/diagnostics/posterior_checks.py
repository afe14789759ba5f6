"""Simulation-based calibration and leave-future-out CV as sections of a ``diagnose`` run.

Each section either runs (with the defaults of :func:`~pyrodyn.diagnostics.diagnose`) or says
why it does not apply, in words a user can act on, instead of failing the whole run: SBC needs a
model that declares a proper prior on every latent site
(:class:`~pyrodyn.models.capabilities.HasProperPrior`); LFO needs sequences the model was not
trained on and a joint density to weight the guide's draws with (an ELBO model, or a declared
proper prior). The numbers come from :func:`~pyrodyn.diagnostics.sbc.sbc` and
:func:`~pyrodyn.diagnostics.lfo.lfo`.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.diagnostics.lfo import LFOResult, lfo
from pyrodyn.diagnostics.ranks import SBCResult
from pyrodyn.diagnostics.sampling import select_trials
from pyrodyn.diagnostics.sbc import check_simulable, sbc
from pyrodyn.models.base import GenerativeModel
from pyrodyn.models.capabilities import HasProperPrior

#: Family-wise level of the SBC uniformity tests (Bonferroni over the latent coordinates).
SBC_ALPHA: float = 0.01

#: Defaults of a ``diagnose`` run (the issue's minimum budget; flags ask for more).
SBC_SIMULATIONS, SBC_DRAWS, LFO_ORIGINS, LFO_SEQUENCES = 200, 99, 20, 4

_UNIFORM_VAR = 1.0 / 12.0
#: Variance of the sample variance of U(0, 1) draws, times n: mu_4 - sigma^4 = 1/80 - 1/144.
_VAR_OF_VAR = 1.0 / 80.0 - 1.0 / 144.0


def rank_shape(ranks: np.ndarray, num_draws: int) -> dict[str, Any]:
    """What the rank histogram of one coordinate says about the posterior (Talts et al. 2018).

    The normalised ranks ``u = (r + 1/2) / (L + 1)`` of a calibrated posterior are uniform: mean
    1/2, variance 1/12. A variance above 1/12 (a U-shaped histogram) means the true values fall
    in the tails of the draws too often, a posterior too narrow; below 1/12 (a hump) one too
    wide; a mean away from 1/2 (a slope) a biased one. The larger of the two standardised
    deviations names the shape.

    Args:
        ranks: ``(N,)`` ranks in ``{0, .., L}``.
        num_draws: L.

    Returns:
        ``mean_rank`` (normalised), ``rank_var`` and ``shape``: ``"too narrow"``, ``"too
        wide"``, ``"biased low"`` (true values above most draws), ``"biased high"``.
    """
    u = (np.asarray(ranks, dtype=np.float64) + 0.5) / (num_draws + 1)
    n = u.size
    z_mean = (u.mean() - 0.5) / math.sqrt(_UNIFORM_VAR / n)
    z_var = (u.var() - _UNIFORM_VAR) / math.sqrt(_VAR_OF_VAR / n)
    if abs(z_var) >= abs(z_mean):
        shape = "too narrow" if z_var > 0 else "too wide"
    else:
        shape = "biased low" if z_mean > 0 else "biased high"
    return {"mean_rank": float(u.mean()), "rank_var": float(u.var()), "shape": shape}


def sbc_summary(result: SBCResult, alpha: float = SBC_ALPHA) -> dict[str, Any]:
    """:meth:`SBCResult.summary` with the shape of every coordinate's rank histogram."""
    out = {"applies": True, **result.summary(alpha)}
    for row, col in zip(out["per_coordinate"], result.ranks.T):
        row.update(rank_shape(col, result.num_draws))
    out["num_coordinates"] = len(result.names)
    return out


def run_sbc(
    model: GenerativeModel,
    batch: MultimodalBatch,
    num_simulations: int = SBC_SIMULATIONS,
    num_draws: int = SBC_DRAWS,
    *,
    seed: int = 0,
) -> tuple[dict[str, Any], SBCResult | None]:
    """SBC of ``model``'s guide on simulations laid out like ``batch``, or why it does not apply.

    Returns:
        ``(summary, result)``; the summary has ``applies`` and, where it is False, ``reason``
        (result None).
    """
    if int(num_simulations) == 0:
        return {"applies": False, "reason": "not run (0 simulations asked for)"}, None
    try:
        check_simulable(model)
    except ValueError as err:
        return {"applies": False, "reason": str(err)}, None
    try:
        result = sbc(model, batch, int(num_simulations), int(num_draws), seed=int(seed))
    except ValueError as err:
        # e.g. a global latent site or a factor term: the model cannot simulate data alone
        logging.getLogger(__name__).warning("SBC skipped: %s", err)
        return {"applies": False, "reason": str(err)}, None
    return sbc_summary(result), result


def lfo_applies(model: GenerativeModel) -> str | None:
    """None where LFO applies to ``model``, else the reason why not."""
    name = type(model).__name__
    if model.is_elbo:
        return None
    if isinstance(model, HasProperPrior) and not model.improper_priors():
        return None
    return (
        f"LFO weights the guide's draws by p(z, y_past) / q(z | y_past); {name} is not trained "
        "on an ELBO (is_elbo=False) and does not declare a proper prior on every latent site "
        "(HasProperPrior), so these ratios have no posterior to target"
    )


def lfo_summary(result: LFOResult, source: str | None = None) -> dict[str, Any]:
    """:meth:`LFOResult.summary` with the counts a verdict needs."""
    out = {"applies": True, **result.summary()}
    cells = int(result.elpd.size)
    finite = result.khat[np.isfinite(result.khat)]
    out.update(
        num_sequences=int(result.elpd.shape[0]),
        num_origins=int(result.origins.size),
        num_evaluations=cells,
        elpd_per_prediction=float(result.elpd.mean()),
        unreliable_fraction=result.num_unreliable / max(cells, 1),
        khat_median=float(np.median(finite)) if finite.size else math.inf,
        khat_per_origin_max=[
            float(np.max(np.where(np.isfinite(k), k, -np.inf))) for k in result.khat.T
        ],
    )
    if source:
        out["source"] = source
    return out


def run_lfo(
    model: GenerativeModel,
    held_out: MultimodalDataset | MultimodalBatch | None,
    *,
    num_origins: int = LFO_ORIGINS,
    num_sequences: int = LFO_SEQUENCES,
    num_draws: int = 100,
    horizon: int = 1,
    window: int | None = None,
    seed: int = 0,
    source: str | None = None,
    missing_reason: str | None = None,
) -> tuple[dict[str, Any], LFOResult | None]:
    """PSIS-LFO on held-out sequences, or why it does not apply.

    Args:
        model: the fitted model.
        held_out: sequences the model was not trained on (None: LFO does not apply).
        num_origins: origins per sequence (0: not run).
        num_sequences: at most this many held-out sequences (windows of a long recording).
        num_draws: guide draws per origin (>= 25).
        horizon: steps predicted jointly from each origin.
        window: window length for a long recording.
        seed: seeds the draws.
        source: where the held-out data come from, for the report.
        missing_reason: the reason to give when ``held_out`` is None.

    Returns:
        ``(summary, result)``; the summary has ``applies`` and, where it is False, ``reason``.
    """
    if int(num_origins) == 0:
        return {"applies": False, "reason": "not run (0 origins asked for)"}, None
    if held_out is None:
        reason = missing_reason or "no held-out sequences were given"
        return {"applies": False, "reason": reason}, None
    if held_out.static:
        return {"applies": False, "reason": "LFO needs sequences; the data are static"}, None
    why = lfo_applies(model)
    if why:
        return {"applies": False, "reason": why}, None
    batch = select_trials(held_out, int(num_sequences), window=window)
    try:
        result = lfo(
            model,
            batch,
            int(horizon),
            num_origins=int(num_origins),
            num_draws=int(num_draws),
            seed=int(seed),
        )
    except ValueError as err:
        logging.getLogger(__name__).warning("LFO skipped: %s", err)
        return {"applies": False, "reason": str(err)}, None
    return lfo_summary(result, source), result


__all__ = [
    "LFO_ORIGINS",
    "LFO_SEQUENCES",
    "SBC_ALPHA",
    "SBC_DRAWS",
    "SBC_SIMULATIONS",
    "lfo_applies",
    "lfo_summary",
    "rank_shape",
    "run_lfo",
    "run_sbc",
    "sbc_summary",
]
