"""Atomic checkpoints, loading with ``weights_only=True``, and the RNG states fit stores.

Everything written here is tensors and plain Python data, so ``torch.load(weights_only=True)``
reads it back without unpickling arbitrary objects.

A fit checkpoint (``checkpoint.pt``, format :data:`CHECKPOINT_FORMAT`) holds ``format``,
``state_dict``, ``optimizer``, ``lr_factor``, ``base_lrs``, ``bad_count``, ``generator`` (the
batch stream), ``rng`` (rank 0's torch/Python/NumPy states), ``step``, ``steps``, ``history``,
``elapsed``, ``stopped_reason``, ``seed`` and ``config``; checkpoints written since the loop
was shared also hold ``rng_ranks`` (every rank's states) and ``world_size``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from pyrodyn.io import atomic_save, load_checkpoint

#: File name of the checkpoint inside a run directory.
CHECKPOINT_FILE = "checkpoint.pt"
#: Format tag of a resumable fit checkpoint.
CHECKPOINT_FORMAT = "pyrodyn-fit-1"


def read_fit_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Loads a resumable fit checkpoint (``weights_only=True``).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a fit checkpoint of format :data:`CHECKPOINT_FORMAT`.
    """
    ckpt = load_checkpoint(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{os.fspath(path)!r} is not a resumable pyrodyn fit checkpoint")
    return ckpt


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


@contextmanager
def forked_rng(device: torch.device | str | None = None) -> Iterator[None]:
    """Runs the body on borrowed torch (and CUDA), Python and NumPy RNG states.

    Whatever the body draws, the global streams continue afterwards as if it had not run.
    """
    state = get_rng_state(device)
    try:
        yield
    finally:
        set_rng_state(state, device)


__all__ = [
    "CHECKPOINT_FILE",
    "CHECKPOINT_FORMAT",
    "atomic_save",
    "forked_rng",
    "get_rng_state",
    "load_checkpoint",
    "read_fit_checkpoint",
    "set_rng_state",
]
