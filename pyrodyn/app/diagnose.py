"""``pyrodyn diagnose``: every diagnostic of a fitted run directory, written to a folder.

Loads the run (:func:`pyrodyn.app.rundir.load_run`) and the data, then runs the library's
:func:`pyrodyn.diagnostics.diagnose` with the figures of :func:`pyrodyn.plots.diagnosis_figures`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyro

from pyrodyn.app.rundir import load_run
from pyrodyn.diagnostics.diagnose import check_modalities, diagnose
from pyrodyn.infer.checkpoint import CHECKPOINT_FILE


def check_run_dir(run_dir: str | os.PathLike) -> str:
    """Raises a clear error unless ``run_dir`` is a run directory with a checkpoint."""
    run_dir = os.fspath(run_dir)
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"run directory {run_dir!r} does not exist")
    if not os.path.exists(os.path.join(run_dir, CHECKPOINT_FILE)):
        raise FileNotFoundError(
            f"run directory {run_dir!r} has no {CHECKPOINT_FILE}; diagnose needs a fitted run "
            "(written by `pyrodyn fit`)"
        )
    return run_dir


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
    if not isinstance(num_samples, (int, np.integer)) or int(num_samples) < 1:
        raise ValueError(f"num_samples (K) must be an integer >= 1, got {num_samples!r}")
    run = load_run(check_run_dir(run_dir))
    source = os.fspath(data) if data is not None else str(run.data_path)
    dataset = run.load_data(data)
    check_modalities(run.model, dataset, source)
    if window is None and not dataset.static:
        cfg_window = run.config["data"].get("window")
        if dataset.single_recording and cfg_window:
            window = int(cfg_window)
    out_dir = os.fspath(out) if out is not None else os.path.join(run.path, "diagnostics")
    writer = None
    if figures:
        from pyrodyn.plots import diagnosis_figures as writer
    pyro.set_rng_seed(int(seed))
    summary = diagnose(
        run.model,
        dataset,
        out_dir,
        num_samples=int(num_samples),
        num_trials=num_trials,
        window=window,
        amortisation_steps=amortisation_steps,
        figures=writer,
        history=run.history_path,
        extra={"run_dir": run.path, "data": source, "seed": int(seed)},
    )
    return out_dir, summary


__all__ = ["check_run_dir", "diagnose_run"]
