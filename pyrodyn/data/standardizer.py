"""The per-feature affine map recorded when a dataset is standardised."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from torch import Tensor


@dataclass(frozen=True)
class Standardizer:
    """Per-feature affine map recorded when a dataset is standardised.

    ``standardised = (raw - mean) / std``; ``inverse`` maps generated data back to data units.

    Attributes:
        mean: modality -> per-feature mean, shape ``feature_shape``.
        std: modality -> per-feature standard deviation, shape ``feature_shape``.
    """

    mean: dict[str, np.ndarray]
    std: dict[str, np.ndarray]

    def forward(self, modality: str, x: np.ndarray | Tensor) -> np.ndarray | Tensor:
        """Standardises ``x`` (``(..., *feature_shape)``) of one modality."""
        if modality not in self.mean:
            return x
        mean, std = self.mean[modality], self.std[modality]
        if isinstance(x, Tensor):
            return (x - x.new_tensor(mean)) / x.new_tensor(std)
        return (x - mean) / std

    def inverse(self, modality: str, x: np.ndarray | Tensor) -> np.ndarray | Tensor:
        """Maps standardised ``x`` (``(..., *feature_shape)``) back to data units."""
        if modality not in self.mean:
            return x
        mean, std = self.mean[modality], self.std[modality]
        if isinstance(x, Tensor):
            return x * x.new_tensor(std) + x.new_tensor(mean)
        return x * std + mean

    def to_dict(self) -> dict[str, dict[str, list]]:
        """Plain-data form (for configs and checkpoints)."""
        return {m: {"mean": self.mean[m].tolist(), "std": self.std[m].tolist()} for m in self.mean}

    @classmethod
    def from_dict(cls, d: Mapping[str, Mapping[str, list]]) -> Standardizer:
        """Inverse of :meth:`to_dict`."""
        return cls(
            mean={m: np.asarray(v["mean"], dtype=np.float64) for m, v in d.items()},
            std={m: np.asarray(v["std"], dtype=np.float64) for m, v in d.items()},
        )


__all__ = ["Standardizer"]
