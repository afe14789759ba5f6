"""Rössler (Rössler 1976, Phys. Lett. A): a single-scroll chaotic attractor."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pyrodyn.data.systems.base import DynamicalSystem


class Rossler(DynamicalSystem):
    """``dx = -y - z``, ``dy = x + a y``, ``dz = b + z (x - c)``.

    Defaults: ``a = b = 0.2``, ``c = 5.7`` (chaotic; maximal Lyapunov exponent about 0.07 per time
    unit), sampled at ``dt = 0.15``: one rotation takes about 6 time units, i.e. about 40 samples,
    a resolution comparable to Lorenz-63 at ``dt = 0.05`` relative to its own time scales. Initial
    condition ``(1, 1, 0)``.

    Args:
        a: damping of y.
        b: offset of z.
        c: threshold of the z spike.
    """

    dim = 3
    default_dt = 0.15

    def __init__(self, a: float = 0.2, b: float = 0.2, c: float = 5.7) -> None:
        self.a, self.b, self.c = float(a), float(b), float(c)
        self.default_x0 = np.array([1.0, 1.0, 0.0])

    def vector_field(self, t: float, x: np.ndarray) -> np.ndarray:
        """``(..., 3) -> (..., 3)``."""
        x = np.asarray(x)
        u, v, w = x[..., 0], x[..., 1], x[..., 2]
        return np.stack([-v - w, u + self.a * v, self.b + w * (u - self.c)], axis=-1)

    def _odeint_rhs(self) -> Callable[[np.ndarray, float], tuple[float, float, float]]:
        a, b, c = self.a, self.b, self.c

        def rhs(x: np.ndarray, t: float) -> tuple[float, float, float]:
            u, v, w = x
            return (-v - w, u + a * v, b + w * (u - c))

        return rhs

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """``(..., 3) -> (..., 3, 3)``."""
        x = np.asarray(x, dtype=np.float64)
        out = np.zeros((*x.shape[:-1], 3, 3))
        out[..., 0, 1], out[..., 0, 2] = -1.0, -1.0
        out[..., 1, 0], out[..., 1, 1] = 1.0, self.a
        out[..., 2, 0], out[..., 2, 2] = x[..., 2], x[..., 0] - self.c
        return out
