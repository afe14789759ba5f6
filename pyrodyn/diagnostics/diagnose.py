"""The ``diagnose`` workflow: every diagnostic of a fitted model, written to a folder.

Draws -> ``posterior.nc``, importance diagnostics, LOO, PPCs, figures, ``diagnostics.md`` /
``diagnostics.json``.

:func:`diagnose` works on a model and data in memory; :func:`diagnose_run` loads a run directory
written by ``pyrodyn fit`` (``config.yaml`` + ``checkpoint.pt``) and is what the command line
``pyrodyn diagnose RUN_DIR [--data FILE]`` calls.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.diagnostics.amortisation import amortisation_gap
from pyrodyn.diagnostics.importance import importance_from_draws
from pyrodyn.diagnostics.inference_data import draws_to_inference_data, write_posterior
from pyrodyn.diagnostics.loo import loo_all
from pyrodyn.diagnostics.ppc import dynamics_checks, ppc_summary
from pyrodyn.diagnostics.report import write_json, write_markdown
from pyrodyn.diagnostics.sampling import PosteriorDraws, draw_posterior, select_trials
from pyrodyn.models.base import GenerativeModel

log = logging.getLogger(__name__)

NOT_ELBO = (
    "{name} is not trained on an ELBO (is_elbo=False), so its guide is not a variational "
    "posterior: importance diagnostics (IWAE, PSIS k-hat, ESS) and LOO do not apply; the "
    "predictive checks below do"
)


def _figures(
    model: GenerativeModel,
    draws: PosteriorDraws,
    out_dir: str,
    importance: Any,
    dynamics: Mapping[str, Any] | None,
    history: str | None,
) -> list[str]:
    from pyrodyn import plots

    files = []

    def save(name: str, fn: Any, *args: Any, **kw: Any) -> None:
        path = os.path.join(out_dir, name)
        try:
            fn(*args, path=path, **kw)
        except (ValueError, KeyError, IndexError) as err:  # a figure must not sink the report
            log.warning("figure %s skipped: %s", name, err)
            return
        files.append(name)

    save("ppc.png", plots.plot_ppc, draws, title="posterior predictive checks")
    save("calibration.png", plots.plot_calibration, draws)
    if importance is not None:
        save("khat.png", plots.plot_khat, importance, title="importance diagnostics per trial")
    traj = next(
        (v for v in draws.latents.values() if v.ndim == 4 and not draws.static),
        next((v for v in draws.deterministic.values() if v.ndim == 4), None),
    )
    if traj is not None:
        save(
            "latents.png",
            plots.plot_latents,
            traj[:, 0],
            times=None if draws.times is None else draws.times[0],
            title="latent trajectory of trial 0 (posterior draws)",
        )
    if dynamics:
        specs = {m: r for m, r in dynamics.items() if not m.startswith("_")}
        if specs:
            save("spectra.png", plots.plot_power_spectra, specs)
        gen = dynamics.get("_generated_mean") or dynamics.get("_generated", {})
        for m, g in gen.items():
            if draws.kind.get(m) == "continuous" and g.shape[-1] >= 2:
                obs = np.nan_to_num(draws.observed[m][0].reshape(-1, g.shape[-1]))
                save(
                    "attractor.png",
                    plots.plot_attractor,
                    obs,
                    g[0],
                    title=f"{m}: observed (trial 0) vs generated mean read-out",
                )
                break
    if history and os.path.exists(history):
        save("history.png", plots.plot_history, history, title="training history")
    return files


def diagnose(
    model: GenerativeModel,
    data: MultimodalDataset | MultimodalBatch,
    out_dir: str | os.PathLike,
    *,
    num_samples: int = 100,
    num_trials: int | None = 64,
    window: int | None = None,
    amortisation_steps: int = 100,
    figures: bool = True,
    history: str | os.PathLike | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Runs every diagnostic on a fitted model and writes the results to ``out_dir``.

    Writes ``posterior.nc`` (ArviZ), ``diagnostics.json``, ``diagnostics.md`` and PNG figures
    (``ppc``, ``calibration``, ``khat``, ``latents``, ``spectra``, ``attractor``, ``history``
    where they apply).

    Args:
        model: the fitted model.
        data: the data to diagnose, in the model's units (standardised like the training data).
        out_dir: output folder (created).
        num_samples: guide draws per trial, also the K of the importance diagnostics (>= 1;
            k-hat needs K >= 25 to be finite).
        num_trials: diagnose at most this many trials (windows for a long recording).
        window: cut trials into windows of this length first.
        amortisation_steps: per-trial refinement steps for the amortisation gap (0 skips it).
        figures: write the PNG figures.
        history: a ``history.csv`` to plot.
        extra: more entries for the summary (run dir, data path, ...).

    Returns:
        The summary written to ``diagnostics.json``.
    """
    if not isinstance(num_samples, (int, np.integer)) or int(num_samples) < 1:
        raise ValueError(f"num_samples (K) must be an integer >= 1, got {num_samples!r}")
    out = os.fspath(out_dir)
    os.makedirs(out, exist_ok=True)
    batch = select_trials(data, num_trials, window=window)
    draws = draw_posterior(model, batch, int(num_samples))
    summary: dict[str, Any] = {
        "model": type(model).__name__,
        "is_elbo": bool(model.is_elbo),
        "is_dynamical": bool(model.is_dynamical),
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
    if model.is_dynamical and not batch.static:
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
        files += _figures(model, draws, out, importance, dynamics, hist)
    files += ["diagnostics.json", "diagnostics.md"]
    summary["files"] = files
    write_json(summary, os.path.join(out, "diagnostics.json"))
    write_markdown(summary, os.path.join(out, "diagnostics.md"))
    return summary


def check_run_dir(run_dir: str | os.PathLike) -> str:
    """Raises a clear error unless ``run_dir`` is a run directory with a checkpoint."""
    run_dir = os.fspath(run_dir)
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"run directory {run_dir!r} does not exist")
    ckpt = os.path.join(run_dir, "checkpoint.pt")
    if not os.path.exists(ckpt):
        raise FileNotFoundError(
            f"run directory {run_dir!r} has no checkpoint.pt; diagnose needs a fitted run "
            "(written by `pyrodyn fit`)"
        )
    return run_dir


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


def diagnose_run(
    run_dir: str | os.PathLike,
    data: str | os.PathLike | None = None,
    *,
    out: str | os.PathLike | None = None,
    num_samples: int = 100,
    num_trials: int | None = 64,
    window: int | None = None,
    amortisation_steps: int = 100,
    figures: bool = True,
    seed: int = 0,
) -> tuple[str, dict[str, Any]]:
    """Diagnoses a run directory written by ``pyrodyn fit`` (``pyrodyn diagnose RUN_DIR``).

    Args:
        run_dir: holds ``config.yaml`` and ``checkpoint.pt``.
        data: an ``.npz`` with the run's modalities (default: the configured ``data.path``);
            it is standardised with the run's recorded map.
        out: output folder (default ``RUN_DIR/diagnostics``).
        num_samples: guide draws per trial (the K of the importance diagnostics), >= 1.
        num_trials: at most this many trials (windows of a long recording).
        window: window length for a long recording (default the config's ``data.window``).
        amortisation_steps: refinement steps of the amortisation gap (0 skips it).
        figures: write PNG figures.
        seed: seed of the draws.

    Returns:
        ``(output folder, summary)``.

    Raises:
        FileNotFoundError: no run directory, no ``checkpoint.pt``, or no data file.
        ValueError: data whose modalities or feature shapes differ from the run's, or K < 1.
    """
    import pyro

    from pyrodyn.run import load_data, load_run

    if not isinstance(num_samples, (int, np.integer)) or int(num_samples) < 1:
        raise ValueError(f"num_samples (K) must be an integer >= 1, got {num_samples!r}")
    run_dir = check_run_dir(run_dir)
    model, cfg, standardizer = load_run(run_dir)
    source = os.fspath(data) if data is not None else str(cfg["data"]["path"])
    dataset = load_data(cfg, data, standardizer)
    check_modalities(model, dataset, source)
    if window is None and not dataset.static:
        cfg_window = cfg["data"].get("window")
        if dataset.single_recording and cfg_window:
            window = int(cfg_window)
    out_dir = os.fspath(out) if out is not None else os.path.join(run_dir, "diagnostics")
    pyro.set_rng_seed(int(seed))
    summary = diagnose(
        model,
        dataset,
        out_dir,
        num_samples=int(num_samples),
        num_trials=num_trials,
        window=window,
        amortisation_steps=amortisation_steps,
        figures=figures,
        history=os.path.join(run_dir, "history.csv"),
        extra={"run_dir": run_dir, "data": source, "seed": int(seed)},
    )
    return out_dir, summary
