"""The ``diagnose`` workflow: every diagnostic of a fitted model in memory, written to a folder.

Draws -> ``posterior.nc``, importance diagnostics, LOO, PPCs, ``diagnostics.md`` /
``diagnostics.json``, and figures through a figure writer (``figures=``, e.g.
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
from pyrodyn.diagnostics.loo import loo_all
from pyrodyn.diagnostics.ppc import dynamics_checks, ppc_summary
from pyrodyn.diagnostics.report import write_json, write_markdown
from pyrodyn.diagnostics.sampling import PosteriorDraws, draw_posterior, select_trials
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
    """

    draws: PosteriorDraws
    importance: ImportanceDiagnostics | None
    dynamics: Mapping[str, Any] | None
    history: str | None


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
    amortisation_steps: int = 100,
    figures: FigureWriter | None = None,
    history: str | os.PathLike | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Runs every diagnostic on a fitted model and writes the results to ``out_dir``.

    Writes ``posterior.nc`` (ArviZ), ``diagnostics.json``, ``diagnostics.md`` and, with a figure
    writer, its figures (:func:`pyrodyn.plots.diagnosis_figures`: ``ppc``, ``calibration``,
    ``khat``, ``latents``, ``spectra``, ``attractor``, ``history`` where they apply).

    Args:
        model: the fitted model.
        data: the data to diagnose, in the model's units (standardised like the training data).
        out_dir: output folder (created).
        num_samples: guide draws per trial, also the K of the importance diagnostics (>= 1;
            k-hat needs K >= 25 to be finite).
        num_trials: diagnose at most this many trials (windows for a long recording).
        window: cut trials into windows of this length first.
        amortisation_steps: per-trial refinement steps for the amortisation gap (0 skips it).
        figures: a figure writer ``figures(diagnosis, out_dir) -> file names`` (None or False:
            no figures).
        history: a ``history.csv`` for the figure writer to plot.
        extra: more entries for the summary (run dir, data path, ...).

    Returns:
        The summary written to ``diagnostics.json``.
    """
    if not isinstance(num_samples, (int, np.integer)) or int(num_samples) < 1:
        raise ValueError(f"num_samples (K) must be an integer >= 1, got {num_samples!r}")
    if figures is not None and figures is not False and not callable(figures):
        raise TypeError(
            "figures must be a figure writer figures(diagnosis, out_dir) -> file names, e.g. "
            f"pyrodyn.plots.diagnosis_figures, or None; got {figures!r}"
        )
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
        summary["loo"] = {m: r.summary() for m, r in loo_all(draws).items()}
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
    if figures:
        hist = None if history is None else os.fspath(history)
        files += list(figures(Diagnosis(draws, importance, dynamics, hist), out))
    files += ["diagnostics.json", "diagnostics.md"]
    summary["files"] = files
    write_json(summary, os.path.join(out, "diagnostics.json"))
    write_markdown(summary, os.path.join(out, "diagnostics.md"))
    return summary


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
