"""Lorenz-63 (Lorenz 1963, J. Atmos. Sci.): the classic butterfly attractor."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pyrodyn.data.systems.base import DynamicalSystem


class Lorenz63(DynamicalSystem):
    """``dx = s (y - x)``, ``dy = x (r - z) - y``, ``dz = x y - b z``.

    Defaults: ``sigma = 10``, ``rho = 28``, ``beta = 8/3`` (chaotic; maximal Lyapunov exponent about
    0.9 per time unit), sampled at ``dt = 0.05`` (about 15 samples per loop around a wing, as in the
    MTF data), initial condition ``(1, 1, 1)``.

    Args:
        sigma: Prandtl number.
        rho: Rayleigh number.
        beta: geometric factor.
    """

    dim = 3
    default_dt = 0.05

    def __init__(self, sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0) -> None:
        self.sigma, self.rho, self.beta = float(sigma), float(rho), float(beta)
        self.default_x0 = np.ones(3)

    def vector_field(self, t: float, x: np.ndarray) -> np.ndarray:
        """``(..., 3) -> (..., 3)``."""
        x = np.asarray(x)
        a, b, c = x[..., 0], x[..., 1], x[..., 2]
        return np.stack(
            [self.sigma * (b - a), a * (self.rho - c) - b, a * b - self.beta * c], axis=-1
        )

    def _odeint_rhs(self) -> Callable[[np.ndarray, float], tuple[float, float, float]]:
        s, r, b = self.sigma, self.rho, self.beta

        def rhs(x: np.ndarray, t: float) -> tuple[float, float, float]:
            u, v, w = x
            return (s * (v - u), u * (r - w) - v, u * v - b * w)

        return rhs

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """``(..., 3) -> (..., 3, 3)``."""
        x = np.asarray(x, dtype=np.float64)
        a, b, c = x[..., 0], x[..., 1], x[..., 2]
        out = np.zeros((*x.shape[:-1], 3, 3))
        out[..., 0, 0], out[..., 0, 1] = -self.sigma, self.sigma
        out[..., 1, 0], out[..., 1, 1], out[..., 1, 2] = self.rho - c, -1.0, -a
        out[..., 2, 0], out[..., 2, 1], out[..., 2, 2] = b, a, -self.beta
        return out
