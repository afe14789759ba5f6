"""``pyrodyn fit``: fit the model of a configuration into a run directory."""

from __future__ import annotations

import datetime
import json
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import pyro

from pyrodyn.app.assemble import (
    build_adaptive_forcing,
    build_fit_kwargs,
    build_init,
    build_likelihoods,
    build_loggers,
    build_model,
    build_selection,
    prepare_data,
)
from pyrodyn.app.calibrate import build_calibration
from pyrodyn.app.config import dump_yaml, load_yaml, resolve, to_plain
from pyrodyn.app.outdir import (
    checkpoint_stamp,
    clean_up_failed_fit,
    clear_failed,
    prepare_out_dir,
)
from pyrodyn.app.outputs import json_safe
from pyrodyn.app.restarts import check_restarts, fit_restarts
from pyrodyn.app.resume import check_resume, file_digest, resume_record
from pyrodyn.app.rundir import CONFIG_FILE, INIT_REPORT, versions
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.exceptions import ConfigError
from pyrodyn.infer.checkpoint import CHECKPOINT_FILE
from pyrodyn.infer.fit import HISTORY_FILE, FitResult, fit
from pyrodyn.infer.selection import KeepBest
from pyrodyn.io import load_checkpoint
from pyrodyn.models.base import GenerativeModel

logger = logging.getLogger(__name__)


def _plot_history(run_dir: str) -> None:
    """``history.png`` from ``history.csv`` (a figure never fails a fit)."""
    from pyrodyn.plots import plot_history

    history = os.path.join(run_dir, HISTORY_FILE)
    if not os.path.exists(history):
        return
    try:
        plot_history(history, title="training history", path=os.path.join(run_dir, "history.png"))
    except (ValueError, KeyError) as err:
        logger.warning("history.png skipped: %s", err)


def fit_run(
    cfg: Mapping[str, Any],
    out_dir: str | os.PathLike,
    *,
    resume: bool = False,
    allow_changed_fit: bool = False,
) -> tuple[FitResult, dict[str, Any]]:
    """Fits the model of a configuration into a run directory.

    A new run goes into a new or empty directory; if the fit fails before its first checkpoint,
    what it wrote is removed (a later failure keeps the run, marked by a ``FAILED`` file). A
    resume first checks that the model, objective, data (the file's content) and seed are the
    recorded ones (:func:`~pyrodyn.app.resume.check_resume`) and writes ``config.yaml`` only once
    the fit has succeeded, with the changes it allowed recorded under ``run.resumes``.

    Args:
        cfg: a configuration (resolved here: defaults filled, validated, an old one migrated).
        out_dir: the run directory (created).
        resume: continue the run in ``out_dir`` from its checkpoint.
        allow_changed_fit: on resume, let the optimiser settings (``fit.lr``, ``fit.schedules``,
            ...) differ from the recorded ones.

    Returns:
        ``(FitResult, resolved configuration)``.

    Raises:
        ValueError: ``out_dir`` holds a run and ``resume`` is False, is neither empty nor a run,
            or (``resume``) holds no run.
        ConfigError: a resume that would change the model, objective, data or seed, or (without
            ``allow_changed_fit``) the optimiser settings.
    """
    cfg = resolve(cfg)
    out_dir = os.fspath(out_dir)
    created = prepare_out_dir(out_dir, resume=resume, config_file=CONFIG_FILE)
    stamp = checkpoint_stamp(out_dir)
    try:
        return _fit_into(cfg, out_dir, resume=resume, allow_changed_fit=allow_changed_fit)
    except BaseException as err:
        clean_up_failed_fit(out_dir, created=created, resume=resume, error=err, stamp=stamp)
        raise


def _fit_into(
    cfg: dict[str, Any], out_dir: str, *, resume: bool, allow_changed_fit: bool
) -> tuple[FitResult, dict[str, Any]]:
    restarts = check_restarts(cfg)
    build_init(cfg)  # a bad fit.init fails before the data are read
    train, valid, standardizer = prepare_data(cfg)
    first = _build(cfg, train)  # before the record: fills sizes into cfg, fails early
    cfg["run"] = {
        "versions": versions(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "data_sha256": file_digest(cfg["data"]["path"]),
        "standardizer": None if standardizer is None else standardizer.to_dict(),
        "feature_shapes": {m: list(train.feature_shape(m)) for m in train.modalities},
        "train_trials": train.num_trials,
        "train_steps": train.num_steps,
        "valid_trials": None if valid is None else valid.num_trials,
    }
    config_path = os.path.join(out_dir, CONFIG_FILE)
    if resume:
        recorded = load_yaml(config_path)
        if restarts > 1 or (recorded.get("run") or {}).get("restarts"):
            raise ConfigError(
                f"cannot resume {out_dir!r}: a fit with fit.restarts > 1 is not resumable (its "
                "restarts shared one time budget); start a new run"
            )
        changes = check_resume(
            recorded, to_plain(cfg), allow_changed_fit=allow_changed_fit, run_dir=repr(out_dir)
        )
        from_step = int(load_checkpoint(os.path.join(out_dir, CHECKPOINT_FILE)).get("step", 0))
        previous = recorded.get("run") or {}
        cfg["run"]["created"] = previous.get("created", cfg["run"]["created"])
        cfg["run"]["resumes"] = [
            *previous.get("resumes", []),
            resume_record(changes, from_step),
        ]
    else:
        dump_yaml(cfg, config_path)  # the record exists from the start (a kill keeps it)

    def fit_once(c: dict[str, Any], run_dir: str) -> tuple[FitResult, KeepBest | None]:
        nonlocal first
        if first is not None and c["seed"] == cfg["seed"]:
            model, first = first, None  # built from the same seed above
        else:
            model = _build(c, train)
        return _fit_once(c, run_dir, model, train, valid, resume=resume)

    if restarts > 1:
        result, cfg["run"]["restarts"] = fit_restarts(cfg, out_dir, fit_once)
    else:
        result, _ = fit_once(cfg, out_dir)
    if resume or restarts > 1:
        dump_yaml(cfg, config_path)
    clear_failed(out_dir)
    _plot_history(out_dir)
    return result, cfg


def _build(cfg: dict[str, Any], train: MultimodalDataset) -> GenerativeModel:
    """``cfg``'s model, initialised from ``cfg["seed"]``."""
    pyro.set_rng_seed(int(cfg["seed"]))  # reproducible initialisation
    return build_model(cfg, build_likelihoods(cfg, train))


def _take_from_budget(fit_kwargs: dict[str, Any], seconds: float, message: str) -> None:
    """Lowers ``fit_kwargs["max_time"]`` (if set) by ``seconds``; ConfigError if none is left."""
    if fit_kwargs.get("max_time") is None:
        return
    left = float(fit_kwargs["max_time"]) - seconds
    if left <= 0:
        raise ConfigError(message)
    fit_kwargs["max_time"] = left


def _fit_once(
    cfg: dict[str, Any],
    run_dir: str,
    model: GenerativeModel,
    train: MultimodalDataset,
    valid: MultimodalDataset | None,
    *,
    resume: bool,
) -> tuple[FitResult, KeepBest | None]:
    """One fit of ``model`` (built from ``cfg``) into ``run_dir``.

    A new fit first applies ``fit.init``; its time comes out of ``fit.max_time``, as does the
    estimated time of ``fit.calibrate`` (run after training, before the final checkpoint).
    """
    selection = build_selection(cfg, train, run_dir)
    fit_kwargs = build_fit_kwargs(cfg)
    init = build_init(cfg)
    if init is not None and not resume:
        start = time.perf_counter()
        report = init(model, train)
        spent = time.perf_counter() - start
        with open(os.path.join(run_dir, INIT_REPORT), "w") as f:
            # a diverged draw's score is non-finite: null in the file
            json.dump(json_safe({**(report or {}), "seconds": spent}), f, indent=1)
        _take_from_budget(
            fit_kwargs,
            spent,
            f"fit.init took {spent:.1f} s, all of fit.max_time ({fit_kwargs.get('max_time')} s); "
            "raise fit.max_time or lower the init's work",
        )
    calibration = build_calibration(cfg, train, run_dir)
    if calibration is not None:
        try:
            calibration.check_model(model)
        except (TypeError, NotImplementedError) as err:
            raise ConfigError(f"fit.calibrate: {err}") from err
        if fit_kwargs.get("max_time") is not None and not resume:
            # the calibration runs after training inside the same budget: reserve its estimated
            # time (one probe score of the started model, then num_scores such scores)
            probe = calibration.probe_seconds(model)
            need = probe * calibration.num_scores
            _take_from_budget(
                fit_kwargs,
                probe + need,
                f"fit.calibrate needs about {need:.1f} s, more than what fit.max_time leaves "
                f"({fit_kwargs['max_time']:.1f} s); lower fit.calibrate.steps or the number of "
                "factors",
            )
    callbacks = build_adaptive_forcing(cfg, train, fit_kwargs["schedules"])
    if selection is not None:
        callbacks.append(selection)
    if calibration is not None:
        callbacks.append(calibration)  # after KeepBest: calibrates the kept weights
    result = fit(
        model,
        train,
        window=cfg["data"]["window"],
        valid_data=valid,
        device=cfg["device"],
        seed=int(cfg["seed"]),
        checkpoint_dir=run_dir,
        resume=resume,
        config=to_plain(cfg),
        # loggers after the selection, so that they see its scores
        callbacks=callbacks + build_loggers(cfg, run_dir),
        **fit_kwargs,
    )
    return result, selection


__all__ = ["fit_run"]
