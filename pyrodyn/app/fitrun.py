"""``pyrodyn fit``: fit the model of a configuration into a run directory."""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Mapping
from typing import Any

import pyro

from pyrodyn.app.assemble import (
    build_fit_kwargs,
    build_likelihoods,
    build_model,
    build_selection,
    prepare_data,
)
from pyrodyn.app.config import dump_yaml, resolve, to_plain
from pyrodyn.app.rundir import CONFIG_FILE, versions
from pyrodyn.infer.checkpoint import CHECKPOINT_FILE
from pyrodyn.infer.fit import HISTORY_FILE, FitResult, fit

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
) -> tuple[FitResult, dict[str, Any]]:
    """Fits the model of a configuration into a run directory.

    Args:
        cfg: a configuration (resolved here: defaults filled, validated, an old one migrated).
        out_dir: the run directory (created).
        resume: continue the run in ``out_dir`` from its checkpoint.

    Returns:
        ``(FitResult, resolved configuration)``.

    Raises:
        ValueError: ``out_dir`` already holds a run and ``resume`` is False.
    """
    cfg = resolve(cfg)
    out_dir = os.fspath(out_dir)
    if not resume and os.path.exists(os.path.join(out_dir, CHECKPOINT_FILE)):
        raise ValueError(
            f"{out_dir!r} already holds a run (checkpoint.pt); pass --resume to continue it or "
            "choose another --out"
        )
    os.makedirs(out_dir, exist_ok=True)
    train, valid, standardizer = prepare_data(cfg)
    pyro.set_rng_seed(int(cfg["seed"]))  # reproducible initialisation
    likelihoods = build_likelihoods(cfg, train)
    model = build_model(cfg, likelihoods)
    cfg["run"] = {
        "versions": versions(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "standardizer": None if standardizer is None else standardizer.to_dict(),
        "feature_shapes": {m: list(train.feature_shape(m)) for m in train.modalities},
        "train_trials": train.num_trials,
        "train_steps": train.num_steps,
        "valid_trials": None if valid is None else valid.num_trials,
    }
    dump_yaml(cfg, os.path.join(out_dir, CONFIG_FILE))
    selection = build_selection(cfg, train, out_dir)
    result = fit(
        model,
        train,
        window=cfg["data"]["window"],
        valid_data=valid,
        device=cfg["device"],
        seed=int(cfg["seed"]),
        checkpoint_dir=out_dir,
        resume=resume,
        config=to_plain(cfg),
        callbacks=[] if selection is None else [selection],
        **build_fit_kwargs(cfg),
    )
    _plot_history(out_dir)
    return result, cfg


__all__ = ["fit_run"]
