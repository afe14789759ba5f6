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
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.diagnostics.diagnose import check_modalities, diagnose
from pyrodyn.diagnostics.posterior_checks import (
    LFO_ORIGINS,
    LFO_SEQUENCES,
    SBC_DRAWS,
    SBC_SIMULATIONS,
)
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
    amortisation_steps: int = 0,
    figures: bool = True,
    seed: int = 0,
    sbc_simulations: int = SBC_SIMULATIONS,
    sbc_draws: int = SBC_DRAWS,
    lfo_origins: int = LFO_ORIGINS,
    lfo_sequences: int = LFO_SEQUENCES,
    lfo_horizon: int = 1,
) -> tuple[str, dict[str, Any]]:
    """Diagnoses a run directory written by ``pyrodyn fit`` (``pyrodyn diagnose RUN_DIR``).

    Args:
        run_dir: holds ``config.yaml`` and ``checkpoint.pt``.
        data: an ``.npz`` with the run's modalities (default: the configured ``data.path``);
            it is standardised with the run's recorded map. Given, it is also the held-out
            data of leave-future-out CV; otherwise LFO uses the validation split the run kept
            out of training (``data.valid_fraction``).
        out: output folder (default ``RUN_DIR/diagnostics``).
        num_samples: guide draws per trial (the K of the importance diagnostics), >= 1.
        num_trials: at most this many trials (windows of a long recording).
        window: window length for a long recording (default the config's ``data.window``).
        amortisation_steps: refinement steps of the amortisation gap (0, the default, skips it).
        figures: write PNG figures.
        seed: seed of the draws, SBC and LFO.
        sbc_simulations: SBC simulations (0 skips SBC).
        sbc_draws: posterior draws per SBC simulation.
        lfo_origins: LFO origins per held-out sequence (0 skips LFO).
        lfo_sequences: at most this many held-out sequences (windows) for LFO.
        lfo_horizon: steps predicted jointly from each LFO origin.

    Returns:
        ``(output folder, summary)``.

    Raises:
        FileNotFoundError: no run directory, no ``checkpoint.pt``, or no data file.
        ValueError: data whose modalities or feature shapes differ from the run's, K < 1, or
            K < 25 where PSIS runs.
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
    held_out, held_source, held_missing = _held_out(run, dataset, data, source)
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
        sbc_simulations=int(sbc_simulations),
        sbc_draws=int(sbc_draws),
        held_out=held_out,
        lfo_origins=int(lfo_origins),
        lfo_sequences=int(lfo_sequences),
        lfo_horizon=int(lfo_horizon),
        held_out_source=held_source,
        held_out_missing=held_missing,
        seed=int(seed),
    )
    return out_dir, summary


def _held_out(
    run: Any, dataset: MultimodalDataset, data: str | os.PathLike | None, source: str
) -> tuple[MultimodalDataset | None, str | None, str | None]:
    """LFO's held-out data: ``--data``, else the run's validation split; or why there is none."""
    if data is not None:
        return dataset, f"`{source}` (--data)", None
    valid = run.valid_data
    if valid is None:
        return (
            None,
            None,
            "the run kept no held-out data (data.valid_fraction is 0), and leave-future-out CV "
            "scores predictions of data the model was not trained on; pass held-out sequences "
            "with --data FILE.npz",
        )
    fraction = run.config["data"]["valid_fraction"]
    what = "the validation tail" if dataset.single_recording else "the validation trials"
    return valid, f"{what} of `{source}` (data.valid_fraction {fraction})", None


__all__ = ["check_run_dir", "diagnose_run"]
