"""Atomic checkpoints, loading with ``weights_only=True``, and the RNG states fit stores.

Everything written here is tensors and plain Python data, so ``torch.load(weights_only=True)``
reads it back without unpickling arbitrary objects.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from pyrodyn.io import atomic_save, load_checkpoint

#: File name of the checkpoint inside a run directory.
CHECKPOINT_FILE = "checkpoint.pt"


def get_rng_state(device: torch.device | str | None = None) -> dict[str, Any]:
    """Torch (CPU, and CUDA for a CUDA ``device``), Python and NumPy RNG states.

    Returned as tensors and plain data, loadable with ``weights_only=True``.
    """
    keys, pos, has_gauss, cached = np.random.get_state(legacy=True)[1:]  # noqa: NPY002 (global RNG)
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
    }
    device = None if device is None else torch.device(device)
    if device is not None and device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device | str | None = None) -> None:
    """Restores states written by :func:`get_rng_state`."""
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(  # noqa: NPY002 (global RNG)
        (
            "MT19937",
            n["keys"].numpy().astype(np.uint32),
            n["pos"],
            n["has_gauss"],
            n["cached"],
        )
    )
    device = None if device is None else torch.device(device)
    if device is not None and device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


__all__ = [
    "CHECKPOINT_FILE",
    "atomic_save",
    "get_rng_state",
    "load_checkpoint",
    "set_rng_state",
]
