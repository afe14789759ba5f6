"""Lorenz-96 (Lorenz 1996, ECMWF seminar): a ring of N coupled, forced, damped variables."""

from __future__ import annotations

import numpy as np

from pyrodyn.data.systems.base import DynamicalSystem


class Lorenz96(DynamicalSystem):
    """``dx_i = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F`` with cyclic indices.

    Defaults: ``N = 10`` (any ``N >= 4``), forcing ``F = 8`` (chaotic at N = 10; the maximal
    Lyapunov exponent grows with N), sampled at ``dt = 0.05``. The initial condition is the fixed
    point ``x_i = F`` with ``x_0`` raised by 0.01, which the dynamics leave quickly. (dysts'
    Lorenz-96 defaults to N = 4 with F = 20.)

    Args:
        num_variables: N >= 4.
        forcing: F.
    """

    default_dt = 0.05

    def __init__(self, num_variables: int = 10, forcing: float = 8.0) -> None:
        if int(num_variables) < 4:
            raise ValueError(f"Lorenz96 needs num_variables >= 4, got {num_variables}")
        self.dim = int(num_variables)
        self.forcing = float(forcing)
        self.default_x0 = np.full(self.dim, self.forcing)
        self.default_x0[0] += 0.01
        # Cyclic neighbour indices; fancy indexing is several times faster than np.roll here.
        idx = np.arange(self.dim)
        self._next, self._prev, self._prev2 = (idx + 1) % self.dim, idx - 1, idx - 2

    def vector_field(self, t: float, x: np.ndarray) -> np.ndarray:
        """``(..., N) -> (..., N)``."""
        x = np.asarray(x)
        return (x[..., self._next] - x[..., self._prev2]) * x[..., self._prev] - x + self.forcing

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """``(..., N) -> (..., N, N)``."""
        x = np.asarray(x, dtype=np.float64)
        n = self.dim
        idx = np.arange(n)
        out = np.zeros((*x.shape[:-1], n, n))
        x_prev = x[..., self._prev]
        out[..., idx, self._next] = x_prev
        out[..., idx, self._prev2 % n] = -x_prev
        out[..., idx, self._prev % n] = x[..., self._next] - x[..., self._prev2]
        out[..., idx, idx] = -1.0
        return out
