"""Output files shared by the commands: ``metrics.json`` and arrays in data units."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from pyrodyn.app.config import to_plain
from pyrodyn.data.standardizer import Standardizer

METRICS_FILE = "metrics.json"


def finite(v: Any) -> Any:
    """``v`` with non-finite floats replaced by None (JSON has no NaN), recursively."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [finite(x) for x in v]
    return v


def json_safe(v: Any) -> Any:
    """Plain JSON data (numpy and torch values converted); non-finite numbers as None."""
    return finite(to_plain(v))


def write_metrics(metrics: Mapping[str, Any], path: str | os.PathLike) -> dict[str, Any]:
    """Writes ``metrics`` as JSON (plain types, non-finite values as null) and returns it."""
    out = json_safe(metrics)
    with open(path, "w") as f:
        json.dump(out, f, indent=2)
    return out


def to_data_units(
    arrays: Mapping[str, torch.Tensor], standardizer: Standardizer | None
) -> dict[str, np.ndarray]:
    """Tensors of the model's units -> float64 arrays in data units (standardisation undone)."""
    out = {}
    for m, x in arrays.items():
        x = x.detach().cpu().double()
        if standardizer is not None:
            x = standardizer.inverse(m, x)
        out[m] = x.numpy()
    return out


__all__ = ["METRICS_FILE", "finite", "to_data_units", "write_metrics"]
