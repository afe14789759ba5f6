"""Adapter exposing any continuous-time `dysts` flow (Gilpin 2021) as a `DynamicalSystem`."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from pyrodyn.data.systems.base import DynamicalSystem


def _import_flows() -> Any:
    try:
        return importlib.import_module("dysts.flows")
    except ImportError as err:
        raise ImportError(
            "DystsSystem needs the optional package 'dysts' (pip install dysts; it pulls gluonts, "
            "pandas and pyarrow, about 700 MB). The built-in Lorenz63, Rossler and Lorenz96 "
            "systems need nothing extra."
        ) from err


class DystsSystem(DynamicalSystem):
    """A `dysts` flow by name (e.g. ``"Lorenz"``, ``"Rossler"``, ``"Aizawa"``).

    Uses the flow's right-hand side, parameters and initial condition from the dysts metadata,
    but integrates with :meth:`DynamicalSystem.simulate` (LSODA, tolerance 1e-9) instead of dysts'
    default Radau at 1e-12 with resampling, which is roughly 100x slower (35 s for 2,000 Lorenz
    points; specs/ecosystem.md D). No resampling is done: samples are ``dt`` apart.

    The default ``dt`` is the flow's dominant period (dysts metadata) divided by
    ``points_per_period`` (15 by default: Lorenz-63 at dt = 0.05 has about 15 samples per loop).

    Args:
        name: class name of a flow in ``dysts.flows``.
        points_per_period: samples per dominant period used for ``default_dt``.
        **params: parameter overrides passed to the dysts constructor.

    Raises:
        ImportError: when dysts is not installed.
        ValueError: for an unknown flow name.
    """

    def __init__(self, name: str, *, points_per_period: int = 15, **params: Any) -> None:
        flows = _import_flows()
        cls = getattr(flows, name, None)
        if not isinstance(cls, type):
            known = sorted(n for n in dir(flows) if not n.startswith("_"))
            raise ValueError(f"unknown dysts flow {name!r}; dysts.flows offers {known}")
        if int(points_per_period) < 1:
            raise ValueError(f"points_per_period must be >= 1, got {points_per_period}")
        self.name = name
        self.flow = cls(**params)
        ic = np.asarray(self.flow.ic, dtype=np.float64)
        if ic.ndim != 1:
            ic = ic.reshape(-1, ic.shape[-1])[0]
        self.default_x0 = ic
        self.dim = int(ic.shape[0])
        period = getattr(self.flow, "period", None) or 1.0
        self.default_dt = float(period) / int(points_per_period)

    def vector_field(self, t: float, x: np.ndarray) -> np.ndarray:
        """``(..., dim) -> (..., dim)`` (loops over leading dimensions: dysts RHSs are scalar)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            return np.asarray(self.flow.rhs(x, t), dtype=np.float64)
        flat = x.reshape(-1, self.dim)
        out = np.stack([np.asarray(self.flow.rhs(row, t), dtype=np.float64) for row in flat])
        return out.reshape(x.shape)

    def __repr__(self) -> str:
        return f"DystsSystem({self.name!r}, dim={self.dim}, default_dt={self.default_dt:.4g})"
