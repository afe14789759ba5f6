"""``pyrodyn demo``: MTF fitted end to end on multimodal Lorenz-63 data it generates itself.

The demo simulates Lorenz-63 observed through Gaussian, ordinal and Poisson channels
(:func:`~pyrodyn.data.lorenz_multimodal.make_lorenz63_multimodal`), writes the data
(``data/train.npz``, ``data/test.npz``: the test file is the noise-free continuation), fits MTF
(Brenner et al., ICML 2024) into ``run/`` and evaluates there, exactly as the command line would
(``pyrodyn fit``, ``pyrodyn evaluate``), so its run directory is an ordinary one. It then writes
``attractor.png``: the true and the generated attractors and their power spectra.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

#: Steps of the generated recording (the last fifth is the test continuation).
DEMO_STEPS = 25000
#: Time between steps of the simulated recording (Lorenz-63 time units).
DEMO_DT = 0.05
#: Training steps of the demo: its budget, whatever else the machine is doing.
DEMO_FIT_STEPS = 4000
#: A safety cap in seconds on the training (not the budget: a fit that reaches it says so).
DEFAULT_MAX_TIME = 240.0


def demo_config(
    train_path: str, *, seed: int = 0, max_time: float | None = None, steps: int | None = None
) -> dict:
    """The demo configuration: MTF (clipped shallow PLRNN) on Gaussian + ordinal + Poisson.

    Args:
        train_path: the training ``.npz``.
        seed: seed of the fit.
        max_time: safety cap on the training time in seconds (default :data:`DEFAULT_MAX_TIME`).
        steps: training steps (default :data:`DEMO_FIT_STEPS`); the schedules run on steps, so
            the result does not depend on how busy the machine is.
    """
    return {
        "data": {
            "path": train_path,
            "modalities": {
                "gaussian": {"likelihood": {"type": "Gaussian"}},
                "ordinal": {"likelihood": {"type": "Ordinal", "num_categories": 7}},
                "poisson": {"likelihood": {"type": "Poisson"}},
            },
            "dt": DEMO_DT,
            "window": 200,
            "valid_fraction": 0.05,
            "standardize": [],
        },
        "model": {
            "type": "MTF",
            "dynamics": {"type": "ClippedShallowPLRNN", "latent_dim": 10, "hidden_dim": 100},
            "tau": 10,
            "encoder": {
                "type": "TemporalConvEncoder",
                "input_dim": 14,
                "latent_dim": 10,
                "use_mask": False,
            },
            "sample_latent": False,
        },
        "fit": {
            # a step budget: a busy machine takes longer but trains the same model
            "steps": DEMO_FIT_STEPS if steps is None else int(steps),
            "schedule_clock": "steps",
            "optimizer": "radam",
            "lr": 3e-3,
            "batch_size": 32,
            "lr_schedule": {"type": "cosine", "min_factor": 0.01},
            "valid_every": 100000,
            "checkpoint_every": 100000,
            "max_time": DEFAULT_MAX_TIME if max_time is None else max_time,
            # keep the weights whose free run best matches the training recording
            "select": {
                "every": 250,
                "start": 750,
                "steps": 10000,
                "burn_in": 500,
                "trials": 4,
                "options": {"d_stsp": {"n_bins": 10, "bin_range": "legacy"}, "d_h": {"sigma": 2.0}},
            },
        },
        "evaluate": {
            "steps": 20000,
            "burn_in": 1000,
            "pe_steps": 10,
            "max_points": 2000,
            "metrics": ["d_stsp", "d_h", "pe"],
            "options": {"d_stsp": {"n_bins": 10, "bin_range": "legacy"}, "d_h": {"sigma": 5.0}},
        },
        "seed": seed,
        "device": "cpu",
    }


def trajectory_verdict(x_true: np.ndarray, x_gen: np.ndarray) -> str:
    """In words: did the generated trajectory keep the attractor, or collapse or blow up?

    :func:`pyrodyn.diagnostics.trajectory.trajectory_verdict` with the demo's advice.

    Args:
        x_true: ``(T, D)`` true trajectory.
        x_gen: ``(T', D)`` generated trajectory.
    """
    from pyrodyn.diagnostics.trajectory import trajectory_verdict as verdict

    return verdict(x_true, x_gen, advice="train longer (--steps)")


def plot_demo(
    x_true: np.ndarray, x_gen: np.ndarray, summary: dict[str, Any], path: str, *, seed: int
) -> Figure:
    """Writes and returns the demo's figure (:func:`pyrodyn.plots.plot_generated`) with its verdict.

    Args:
        x_true: ``(T, 3)`` true (z-scored) test continuation.
        x_gen: ``(T', 3)`` generated trajectory.
        summary: the demo's summary so far (``metrics``, ``steps``, ``verdict``).
        path: output image file.
        seed: seed of the data and the fit (for the title).
    """
    from pyrodyn.plots import plot_generated

    def score(name: str) -> str:
        value = summary["metrics"].get(name)
        return "n/a" if value is None else f"{value:.3f}"

    return plot_generated(
        x_true,
        x_gen,
        dt=DEMO_DT,
        time_unit="time unit",
        names=("x", "y", "z"),
        unit="z-scored",
        labels=("true (test continuation)", "generated"),
        note=summary["verdict"],
        title=(
            f"MTF on multimodal Lorenz-63 (seed {seed}, {summary['steps']} steps): "
            f"D_stsp {score('d_stsp')}, D_H {score('d_h')}"
        ),
        path=path,
    )


def run_demo(
    out_dir: str,
    *,
    seed: int = 0,
    max_time: float | None = None,
    steps: int | None = None,
    threads: int | None = 1,
) -> dict:
    """Generates data, fits MTF, evaluates and plots; returns a summary.

    Args:
        out_dir: folder for ``data/``, the run directory ``run/`` and ``attractor.png``.
        seed: seed of the data and the fit.
        max_time: safety cap on the training time in seconds (default 240 s).
        steps: training steps (default :data:`DEMO_FIT_STEPS`, the budget).
        threads: torch threads while the demo runs (one is fastest for this small model, and
            stays fast when the machine's other cores are busy); None keeps torch's setting.

    Returns:
        ``{"run_dir", "steps", "stopped_reason", "fit_seconds", "total_seconds", "metrics",
        "verdict", "figure"}``; ``metrics`` holds ``d_stsp`` and ``d_h`` of the generated
        attractor, ``verdict`` says in words whether the generated trajectory kept it.
    """
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        return _run_demo(out_dir, seed=seed, max_time=max_time, steps=steps)
    finally:
        torch.set_num_threads(before)


def _run_demo(out_dir: str, *, seed: int, max_time: float | None, steps: int | None) -> dict:
    import torch

    from pyrodyn.app.evaluate import evaluate_run
    from pyrodyn.app.fitrun import fit_run
    from pyrodyn.app.generation import generate
    from pyrodyn.app.rundir import load_run
    from pyrodyn.data.dataset import MultimodalDataset
    from pyrodyn.data.lorenz_multimodal import make_lorenz63_multimodal

    t0 = time.perf_counter()
    data_dir = os.path.join(out_dir, "data")
    os.makedirs(data_dir, exist_ok=True)
    arrays = make_lorenz63_multimodal(DEMO_STEPS, seed=seed)
    cut = DEMO_STEPS * 4 // 5
    train = os.path.join(data_dir, "train.npz")
    test = os.path.join(data_dir, "test.npz")
    np.savez(train, **{k: v[:cut] for k, v in arrays.items()})
    # the test file is the noise-free continuation of the state
    test_arrays = {k: v[cut:] for k, v in arrays.items()}
    test_arrays["gaussian"] = arrays["true_state"][cut:]
    np.savez(test, **test_arrays)
    run_dir = os.path.join(out_dir, "run")
    cfg = demo_config(train, seed=seed, max_time=max_time, steps=steps)
    result, _ = fit_run(cfg, run_dir, resume=os.path.exists(os.path.join(run_dir, "checkpoint.pt")))
    metrics = evaluate_run(run_dir, test)
    model = load_run(run_dir).model
    torch.manual_seed(seed)
    init = MultimodalDataset({m: arrays[m][:cut] for m in model.modalities}).batch(
        start=torch.tensor([0]), window=200
    )
    ev = cfg["evaluate"]
    gen = generate(model, init, ev["steps"], trials=1, burn_in=ev["burn_in"])
    figure = os.path.join(out_dir, "attractor.png")
    x_gen = gen["gaussian"][0].numpy()
    summary: dict[str, Any] = {
        "run_dir": run_dir,
        "steps": result.steps_done,
        "stopped_reason": result.stopped_reason,
        "fit_seconds": round(result.elapsed, 1),
        "total_seconds": round(time.perf_counter() - t0, 1),
        "metrics": {k: v for k, v in metrics.items() if k != "evaluation"},
        "verdict": trajectory_verdict(arrays["true_state"][cut:], x_gen),
        "figure": figure,
    }
    if result.stopped_reason == "max_time":
        summary["verdict"] += (
            f" (training stopped at the {cfg['fit']['max_time']:.0f} s safety cap after "
            f"{result.steps_done} of {cfg['fit']['steps']} steps: the machine is busy)"
        )
    plot_demo(arrays["true_state"][cut:], x_gen, summary, figure, seed=seed)
    logger.info(
        "demo: D_stsp %.3f, D_H %.3f after %d steps",
        summary["metrics"].get("d_stsp", float("nan")),
        summary["metrics"].get("d_h", float("nan")),
        summary["steps"],
    )
    return summary


__all__ = [
    "DEFAULT_MAX_TIME",
    "DEMO_DT",
    "DEMO_FIT_STEPS",
    "DEMO_STEPS",
    "demo_config",
    "plot_demo",
    "run_demo",
    "trajectory_verdict",
]
