"""``pyrodyn encode``: posterior-mean latents of every trial of a data file."""

from __future__ import annotations

import math
import os

import numpy as np
import torch

from pyrodyn.app.rundir import load_run

#: Trials encoded per forward pass (bounds memory on long datasets).
CHUNK = 64


def encode_run(
    run_dir: str | os.PathLike,
    data: str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
) -> tuple[str, dict[str, np.ndarray]]:
    """Posterior means of every trial of ``data``, written to ``out``.

    The default output is ``RUN_DIR/encoded.npz`` with the arrays of the model's ``encode``
    (``latent`` and model-specific parts); steps beyond a trial's length are NaN.
    """
    run = load_run(run_dir)
    ds = run.load_data(data)
    parts: dict[str, list[np.ndarray]] = {}
    with torch.no_grad():
        for i in range(0, ds.num_trials, CHUNK):
            batch = ds.batch(torch.arange(i, min(i + CHUNK, ds.num_trials)))
            for k, v in run.model.encode(batch).items():
                v = v.detach().cpu().double()
                if not run.model.is_static and v.dim() >= 3 and v.shape[1] == ds.num_steps:
                    pad = ~batch.valid_steps().cpu()
                    v = v.masked_fill(pad.reshape(*pad.shape, *([1] * (v.dim() - 2))), math.nan)
                parts.setdefault(k, []).append(v.numpy())
    arrays = {k: np.concatenate(v, 0) for k, v in parts.items()}
    out = os.fspath(out or os.path.join(run.path, "encoded.npz"))
    np.savez(out, **arrays)
    return out, arrays


__all__ = ["CHUNK", "encode_run"]
