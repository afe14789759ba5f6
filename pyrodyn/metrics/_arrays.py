"""Input coercion shared by the metric functions (numpy or torch in, validated numpy out)."""

from __future__ import annotations

from typing import Any

import numpy as np


def as_numpy(x: Any, name: str, *, dtype: Any = np.float64) -> np.ndarray:
    """``x`` (numpy, torch or a sequence) as a numpy array of ``dtype``."""
    if hasattr(x, "detach"):  # torch.Tensor without importing torch here
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be array-like of numbers, got {type(x).__name__}") from err


def as_trajectory(x: Any, name: str) -> np.ndarray:
    """A trajectory ``(T, N)``; a 1-D series becomes ``(T, 1)``.

    Raises:
        ValueError: for other ranks or an empty array.
    """
    arr = as_numpy(x, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (time, features), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be non-empty, got shape {arr.shape}")
    return arr


def check_same_features(x_true: np.ndarray, x_gen: np.ndarray) -> None:
    """Raise a ValueError when two trajectories have different feature counts."""
    if x_true.shape[1] != x_gen.shape[1]:
        raise ValueError(
            f"x_true and x_gen must have the same number of features, got {x_true.shape[1]} "
            f"and {x_gen.shape[1]}"
        )


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> None:
    """Raise a ValueError when ``value`` is not one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
