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
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: Steps of the generated recording (the last fifth is the test continuation).
DEMO_STEPS = 25000
#: Training budget in seconds when ``max_time`` is not given (keeps the demo under 5 minutes).
DEFAULT_MAX_TIME = 150.0


def demo_config(train_path: str, *, seed: int = 0, max_time: float | None = None) -> dict:
    """The demo configuration: MTF (clipped shallow PLRNN) on Gaussian + ordinal + Poisson."""
    return {
        "data": {
            "path": train_path,
            "modalities": {
                "gaussian": {"likelihood": {"type": "Gaussian"}},
                "ordinal": {"likelihood": {"type": "Ordinal", "num_categories": 7}},
                "poisson": {"likelihood": {"type": "Poisson"}},
            },
            "dt": 0.05,
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
            # the time budget drives the cosine decay; the step budget is an upper bound
            "steps": 6000,
            "schedule_clock": "time",
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


def _spectrum(x: np.ndarray, sigma: float = 5.0) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    z = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0)
    p = np.abs(np.fft.rfft(z, axis=0)) ** 2
    p = gaussian_filter1d(p, sigma, axis=0)
    return p / p.sum(0, keepdims=True)


def plot_attractors(x_true: np.ndarray, x_gen: np.ndarray, path: str, *, dt: float) -> None:
    """Writes a figure: true and generated attractors (3-D) and their power spectra.

    Args:
        x_true: ``(T, 3)`` true trajectory.
        x_gen: ``(T', 3)`` generated trajectory.
        path: output image file.
        dt: sampling interval (for the frequency axis).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(12, 7))
    for i, (x, title) in enumerate(((x_true, "true (test continuation)"), (x_gen, "generated"))):
        ax = fig.add_subplot(2, 3, i + 1, projection="3d")
        ax.plot(*x[:5000].T, lw=0.3, color="C0" if i == 0 else "C3")
        ax.set_title(title)
    n = min(len(x_true), len(x_gen))
    p, q = _spectrum(x_true[:n]), _spectrum(x_gen[:n])
    freq = np.fft.rfftfreq(n, d=dt)
    for d in range(3):
        ax = fig.add_subplot(2, 3, 4 + d)
        ax.semilogy(freq, p[:, d], color="C0", label="true")
        ax.semilogy(freq, q[:, d], color="C3", label="generated")
        ax.set_xlim(0, 3.0)
        ax.set_xlabel("frequency")
        ax.set_title(f"power spectrum, channel {d}")
        if d == 0:
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run_demo(out_dir: str, *, seed: int = 0, max_time: float | None = None) -> dict:
    """Generates data, fits MTF, evaluates and plots; returns a summary.

    Args:
        out_dir: folder for ``data/``, the run directory ``run/`` and ``attractor.png``.
        seed: seed of the data and the fit.
        max_time: training wall-clock budget in seconds (default 150 s, so that the whole demo
            stays within about 5 minutes on a 2-core CPU).

    Returns:
        ``{"run_dir", "steps", "stopped_reason", "fit_seconds", "total_seconds", "metrics",
        "figure"}``; ``metrics`` holds ``d_stsp`` and ``d_h`` of the generated attractor.
    """
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
    cfg = demo_config(train, seed=seed, max_time=max_time)
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
    plot_attractors(arrays["true_state"][cut:], gen["gaussian"][0].numpy(), figure, dt=0.05)
    summary: dict[str, Any] = {
        "run_dir": run_dir,
        "steps": result.steps_done,
        "stopped_reason": result.stopped_reason,
        "fit_seconds": round(result.elapsed, 1),
        "total_seconds": round(time.perf_counter() - t0, 1),
        "metrics": {k: v for k, v in metrics.items() if k != "evaluation"},
        "figure": figure,
    }
    logger.info(
        "demo: D_stsp %.3f, D_H %.3f after %d steps",
        summary["metrics"].get("d_stsp", float("nan")),
        summary["metrics"].get("d_h", float("nan")),
        summary["steps"],
    )
    return summary


__all__ = ["DEFAULT_MAX_TIME", "DEMO_STEPS", "demo_config", "plot_attractors", "run_demo"]
