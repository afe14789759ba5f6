"""``pyrodyn demo``: a model fitted end to end on multimodal Lorenz-63 data it generates itself.

The demo writes the data (``data/train.npz``, ``data/test.npz``), fits into ``run/`` and evaluates
there, exactly as the command line would (``pyrodyn fit``, ``pyrodyn evaluate``), so its run
directory is an ordinary one.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

#: Steps of the generated recording (the last quarter is the test continuation).
DEMO_STEPS = 4000


def demo_config(train_path: str, *, seed: int = 0, max_time: float | None = None) -> dict:
    """The demo's configuration: a small SVAE on Gaussian + ordinal + Poisson Lorenz-63."""
    return {
        "data": {
            "path": train_path,
            "modalities": {
                "gaussian": {"likelihood": {"type": "Gaussian"}},
                "ordinal": {"likelihood": {"type": "Ordinal", "num_categories": 7}},
                "poisson": {"likelihood": {"type": "Poisson"}},
            },
            "dt": 0.05,
            "window": 50,
            "valid_fraction": 0.1,
            "standardize": ["gaussian"],
        },
        "model": {"type": "SVAE", "latent_dim": 6, "decoder": "linear"},
        "fit": {
            "steps": 400,
            "lr": 1e-2,
            "batch_size": 16,
            "lr_schedule": {"type": "cosine", "min_factor": 0.1},
            "schedules": {"beta": {"type": "linear", "start": 0.1, "end": 1.0, "steps": 300}},
            "valid_every": 100,
            "checkpoint_every": 200,
            "max_time": max_time,
        },
        "evaluate": {"steps": 3000, "burn_in": 100, "pe_steps": 10, "max_points": 900},
        "seed": seed,
        "device": "cpu",
    }


def run_demo(out_dir: str, *, seed: int = 0, max_time: float | None = None) -> dict:
    """Generates data, fits, evaluates; returns a summary.

    Args:
        out_dir: folder for ``data/`` and the run directory ``run/``.
        seed: seed of the data and the fit.
        max_time: training wall-clock budget in seconds (None: the step budget only).

    Returns:
        ``{"run_dir", "steps", "stopped_reason", "fit_seconds", "metrics"}``.
    """
    from pyrodyn.data.lorenz_multimodal import make_lorenz63_multimodal
    from pyrodyn.run import evaluate_run, fit_run

    t0 = time.perf_counter()
    data_dir = os.path.join(out_dir, "data")
    os.makedirs(data_dir, exist_ok=True)
    arrays = make_lorenz63_multimodal(DEMO_STEPS, seed=seed)
    cut = DEMO_STEPS * 3 // 4
    train = os.path.join(data_dir, "train.npz")
    test = os.path.join(data_dir, "test.npz")
    np.savez(train, **{k: v[:cut] for k, v in arrays.items()})
    np.savez(test, **{k: v[cut:] for k, v in arrays.items()})
    run_dir = os.path.join(out_dir, "run")
    result, _ = fit_run(
        demo_config(train, seed=seed, max_time=max_time),
        run_dir,
        resume=os.path.exists(os.path.join(run_dir, "checkpoint.pt")),
    )
    metrics = evaluate_run(run_dir, test)
    summary: dict[str, Any] = {
        "run_dir": run_dir,
        "steps": result.steps_done,
        "stopped_reason": result.stopped_reason,
        "fit_seconds": round(result.elapsed, 1),
        "total_seconds": round(time.perf_counter() - t0, 1),
        "metrics": {k: v for k, v in metrics.items() if k != "evaluation"},
    }
    return summary


__all__ = ["DEMO_STEPS", "demo_config", "run_demo"]
