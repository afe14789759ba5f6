"""The ``diagnose`` workflow: every diagnostic of a fitted model in memory, written to a folder.

Draws -> ``posterior.nc``, importance diagnostics, LOO, PPCs, simulation-based calibration,
leave-future-out CV, a verdict per question (:mod:`pyrodyn.diagnostics.verdicts`),
``diagnostics.md`` / ``diagnostics.json``, and figures through a figure writer (``figures=``, e.g.
:func:`pyrodyn.plots.diagnosis_figures`: figures live in :mod:`pyrodyn.plots`, which builds on
this package). Reading run directories is the application's business
(:mod:`pyrodyn.app.diagnose`, ``pyrodyn diagnose RUN_DIR``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.diagnostics.amortisation import amortisation_gap
from pyrodyn.diagnostics.importance import ImportanceDiagnostics, importance_from_draws
from pyrodyn.diagnostics.inference_data import draws_to_inference_data, write_posterior
from pyrodyn.diagnostics.lfo import MIN_DRAWS, LFOResult
from pyrodyn.diagnostics.loo import loo_summary
from pyrodyn.diagnostics.posterior_checks import (
    LFO_ORIGINS,
    LFO_SEQUENCES,
    SBC_DRAWS,
    SBC_SIMULATIONS,
    lfo_applies,
    run_lfo,
    run_sbc,
)
from pyrodyn.diagnostics.ppc import dynamics_checks, ppc_summary
from pyrodyn.diagnostics.ranks import SBCResult
from pyrodyn.diagnostics.report import write_json, write_markdown
from pyrodyn.diagnostics.sampling import PosteriorDraws, draw_posterior, select_trials
from pyrodyn.diagnostics.verdicts import verdicts
from pyrodyn.models.base import GenerativeModel
from pyrodyn.models.capabilities import Generates

log = logging.getLogger(__name__)

NOT_ELBO = (
    "{name} is not trained on an ELBO (is_elbo=False), so its guide is not a variational "
    "posterior: importance diagnostics (IWAE, PSIS k-hat, ESS) and LOO do not apply; the "
    "predictive checks below do"
)


@dataclass(frozen=True)
class Diagnosis:
    """What a figure writer gets from :func:`diagnose`.

    Attributes:
        draws: the posterior draws and their predictive replications.
        importance: importance diagnostics per trial (None where they do not apply).
        dynamics: power spectra and generated states of the dynamics checks (None: not run).
        history: a ``history.csv`` to plot (None: none).
        sbc: simulation-based calibration (None: not run or does not apply).
        lfo: leave-future-out CV (None: not run or does not apply).
        ppc: the posterior predictive summaries per modality (None: compute them anew).
    """

    draws: PosteriorDraws
    importance: ImportanceDiagnostics | None
    dynamics: Mapping[str, Any] | None
    history: str | None
    sbc: SBCResult | None = None
    lfo: LFOResult | None = None
    ppc: Mapping[str, Any] | None = None


#: ``figures(diagnosis, out_dir) -> file names written`` (e.g. ``pyrodyn.plots.diagnosis_figures``).
FigureWriter = Callable[[Diagnosis, str], list]


def diagnose(
    model: GenerativeModel,
    data: MultimodalDataset | MultimodalBatch,
    out_dir: str | os.PathLike,
    *,
    num_samples: int = 100,
    num_trials: int | None = 64,
    window: int | None = None,
    amortisation_steps: int = 0,
    figures: FigureWriter | None = None,
    history: str | os.PathLike | None = None,
    extra: Mapping[str, Any] | None = None,
    sbc_simulations: int = SBC_SIMULATIONS,
    sbc_draws: int = SBC_DRAWS,
    held_out: MultimodalDataset | MultimodalBatch | None = None,
    lfo_origins: int = LFO_ORIGINS,
    lfo_sequences: int = LFO_SEQUENCES,
    lfo_horizon: int = 1,
    held_out_source: str | None = None,
    held_out_missing: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Runs every diagnostic on a fitted model and writes the results to ``out_dir``.

    Writes ``posterior.nc`` (ArviZ), ``diagnostics.json``, ``diagnostics.md`` and, with a figure
    writer, its figures (:func:`pyrodyn.plots.diagnosis_figures`: ``sbc``, ``lfo``, ``ppc``,
    ``calibration``, ``khat``, ``latents``, ``spectra``, ``attractor``, ``history`` where they
    apply). ``diagnostics.md`` opens with a verdict per question
    (:func:`pyrodyn.diagnostics.verdicts.verdicts`) and lists the diagnostics that do not apply
    with the reason.

    Args:
        model: the fitted model.
        data: the data to diagnose, in the model's units (standardised like the training data).
        out_dir: output folder (created).
        num_samples: guide draws per trial, also the K of the importance diagnostics and the
            draws per LFO origin (>= 25 where PSIS runs: an ELBO model, or LFO).
        num_trials: diagnose at most this many trials (windows for a long recording).
        window: cut trials into windows of this length first.
        amortisation_steps: per-trial refinement steps for the amortisation gap (0, the
            default, skips it; 100 is a good value, but it costs about as much as everything
            else together on long windows).
        figures: a figure writer ``figures(diagnosis, out_dir) -> file names`` (None or False:
            no figures).
        history: a ``history.csv`` for the figure writer to plot.
        extra: more entries for the summary (run dir, data path, ...).
        sbc_simulations: SBC simulations (0 skips SBC); laid out like the diagnosed trials.
        sbc_draws: posterior draws per SBC simulation.
        held_out: sequences the model was not trained on, for LFO (None: LFO does not apply;
            pass ``data`` itself when it is held out).
        lfo_origins: LFO origins per held-out sequence (0 skips LFO).
        lfo_sequences: at most this many held-out sequences (windows) for LFO.
        lfo_horizon: steps predicted jointly from each LFO origin.
        held_out_source: where ``held_out`` comes from, for the report.
        held_out_missing: why there is no ``held_out``, for the report.
        seed: seeds SBC and LFO (the draws follow the global random state).

    Returns:
        The summary written to ``diagnostics.json``.

    Raises:
        ValueError: ``num_samples`` < 1, or < 25 where PSIS runs (too few draws for a Pareto
            tail fit).
    """
    if not isinstance(num_samples, (int, np.integer)) or int(num_samples) < 1:
        raise ValueError(f"num_samples (K) must be an integer >= 1, got {num_samples!r}")
    if figures is not None and figures is not False and not callable(figures):
        raise TypeError(
            "figures must be a figure writer figures(diagnosis, out_dir) -> file names, e.g. "
            f"pyrodyn.plots.diagnosis_figures, or None; got {figures!r}"
        )
    _check_psis_draws(model, int(num_samples), held_out, int(lfo_origins))
    out = os.fspath(out_dir)
    os.makedirs(out, exist_ok=True)
    batch = select_trials(data, num_trials, window=window)
    draws = draw_posterior(model, batch, int(num_samples))
    summary: dict[str, Any] = {
        "model": type(model).__name__,
        "is_elbo": bool(model.is_elbo),
        "is_dynamical": isinstance(model, Generates),
        "num_trials": draws.num_trials,
        "num_samples": draws.num_samples,
        "window": window,
        **dict(extra or {}),
    }
    family = getattr(model, "guide_family", None)
    if family is not None:
        summary["guide_family"] = type(family).__name__
    write_posterior(draws_to_inference_data(draws), os.path.join(out, "posterior.nc"))
    files = ["posterior.nc"]
    importance = None
    if not model.is_elbo:
        reason = NOT_ELBO.format(name=type(model).__name__)
        summary["importance"] = {"applies": False, "reason": reason}
        summary["loo"] = {"applies": False, "reason": reason}
        log.info(reason)
    elif draws.num_samples < 2:
        summary["importance"] = {"applies": False, "reason": "K = 1 draw per trial"}
    else:
        importance = importance_from_draws(draws)
        note = None
        if amortisation_steps > 0:
            gap = amortisation_gap(model, batch, steps=int(amortisation_steps))
            if gap is None:
                note = "not available (the guide's latent sites are not per-trial Normals)"
            importance.amortisation_gap = gap
        summary["importance"] = {"applies": True, **importance.summary()}
        if note:
            summary["importance"]["amortisation_note"] = note
        # both estimators, named: psis_loo (= az.loo on posterior.nc) and is_marginal
        summary["loo"] = loo_summary(draws)
    summary["ppc"] = {m: ppc_summary(draws, m) for m in draws.predictive}
    dynamics = None
    if isinstance(model, Generates) and not batch.static:
        try:
            dynamics = dynamics_checks(model, batch, draws)
        except (TypeError, NotImplementedError, AttributeError, ValueError) as err:
            # e.g. a model whose prior was swapped for one without a dynamics map
            log.warning("dynamics checks skipped: %s", err)
        if dynamics:
            summary["dynamics"] = {
                m: {k: r[k] for k in ("d_h", "d_stsp", "d_stsp_method")}
                for m, r in dynamics.items()
                if not m.startswith("_")
            }
    summary["sbc"], sbc_result = run_sbc(
        model, batch, int(sbc_simulations), int(sbc_draws), seed=int(seed)
    )
    summary["lfo"], lfo_result = run_lfo(
        model,
        held_out,
        num_origins=int(lfo_origins),
        num_sequences=int(lfo_sequences),
        num_draws=int(num_samples),
        horizon=int(lfo_horizon),
        window=window,
        seed=int(seed),
        source=held_out_source,
        missing_reason=held_out_missing,
    )
    if figures:
        hist = None if history is None else os.fspath(history)
        diagnosis = Diagnosis(
            draws, importance, dynamics, hist, sbc_result, lfo_result, summary["ppc"]
        )
        files += list(figures(diagnosis, out))
    files += ["diagnostics.json", "diagnostics.md"]
    summary["files"] = files
    summary["verdicts"] = verdicts(summary)
    write_json(summary, os.path.join(out, "diagnostics.json"))
    write_markdown(summary, os.path.join(out, "diagnostics.md"))
    return summary


def _check_psis_draws(
    model: GenerativeModel, num_samples: int, held_out: Any, lfo_origins: int
) -> None:
    """Too few draws for PSIS (importance diagnostics of an ELBO model, or LFO) is an error."""
    uses = []
    if model.is_elbo:
        uses.append("the importance diagnostics (IWAE, PSIS k-hat, LOO)")
    if held_out is not None and lfo_origins > 0 and lfo_applies(model) is None:
        uses.append("leave-future-out CV")
    if uses and num_samples < MIN_DRAWS:
        raise ValueError(
            f"num_samples (K) = {num_samples} draws per trial are too few for PSIS, which "
            f"{' and '.join(uses)} use: k-hat is fitted to the largest ceil(min(0.2 K, 3 sqrt(K))) "
            f"importance ratios and needs at least 5 of them, i.e. K >= {MIN_DRAWS}; ask for "
            "more draws (`-K 100`, the default)"
        )


def check_modalities(model: GenerativeModel, dataset: MultimodalDataset, source: str) -> None:
    """Raises ``ValueError`` when the data's modalities differ from the model's."""
    want, have = list(model.modalities), list(dataset.modalities)
    missing = [m for m in want if m not in have]
    if missing:
        raise ValueError(
            f"data {source!r} lacks modalities {missing} of the run's config; the model has "
            f"modalities {want} and the data {have}"
        )
    for m in want:
        fs = tuple(model.likelihoods[m].feature_shape)
        if tuple(dataset.feature_shape(m)) != fs:
            raise ValueError(
                f"modality {m!r} of {source!r} has feature shape {dataset.feature_shape(m)}, "
                f"but the run's model expects {fs}"
            )


__all__ = ["NOT_ELBO", "Diagnosis", "FigureWriter", "check_modalities", "diagnose"]
