"""2-D wave equation with a per-instance wave speed (a LaDID benchmark family; spec ladid 2.2).

``u_tt = c^2 (u_xx + u_yy)`` on the periodic unit square, discretised on a ``size x size`` grid
with the 5-point Laplacian and integrated by leapfrog (Stoermer-Verlet) under the CFL condition
``c dt / dx <= 0.5``. Initial condition: one to ``max_bumps`` Gaussian bumps of random sign,
position and width, at rest. The wave speed ``c`` is the instance constant (``true_wave_speed``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pyrodyn.data.dataset import MultimodalDataset


def _laplacian(u: np.ndarray, dx: float) -> np.ndarray:
    return (
        np.roll(u, 1, -1) + np.roll(u, -1, -1) + np.roll(u, 1, -2) + np.roll(u, -1, -2) - 4 * u
    ) / dx**2


def simulate_wave(
    u0: np.ndarray, speed: np.ndarray, num_steps: int, dt: float, cfl: float = 0.5
) -> np.ndarray:
    """Leapfrog integration of ``u_tt = c^2 lap(u)`` from rest on the periodic unit square.

    Args:
        u0: initial fields ``(N, S, S)`` (grid spacing ``1 / S``).
        speed: wave speed per instance ``(N,)``.
        num_steps: T frames (the first is ``u0``).
        dt: time between frames; the solver substeps so that ``c h / dx <= cfl``.
        cfl: Courant number bound.

    Returns:
        ``(N, T, S, S)``.
    """
    u = np.asarray(u0, dtype=float)
    c = np.asarray(speed, dtype=float)
    if u.ndim != 3 or u.shape[1] != u.shape[2] or c.shape != (u.shape[0],):
        raise ValueError(f"u0 must be (N, S, S) and speed (N,), got {u.shape} and {c.shape}")
    dx = 1.0 / u.shape[-1]
    substeps = max(1, int(np.ceil(c.max() * dt / (cfl * dx))))
    h = dt / substeps
    c2 = (c**2)[:, None, None]
    # leapfrog start for zero initial velocity: u_{-1} = u_0 + h^2/2 c^2 lap(u_0)
    prev = u + 0.5 * h**2 * c2 * _laplacian(u, dx)
    frames = [u.copy()]
    for _ in range(int(num_steps) - 1):
        for _ in range(substeps):
            nxt = 2 * u - prev + h**2 * c2 * _laplacian(u, dx)
            prev, u = u, nxt
        frames.append(u.copy())
    return np.stack(frames, 1)


def wave_arrays(
    num_trials: int = 32,
    num_steps: int = 60,
    dt: float = 0.02,
    *,
    size: int = 32,
    speed_range: Sequence[float] = (0.5, 1.5),
    max_bumps: int = 3,
    noise: float = 0.0,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Wave fields in the ``.npz`` data contract.

    Args:
        num_trials: N instances.
        num_steps: T frames per instance.
        dt: time between frames (the solver substeps to satisfy the CFL condition).
        size: grid side (``dx = 1 / size``).
        speed_range: ``c ~ U(low, high)`` per instance.
        max_bumps: each instance starts with 1..``max_bumps`` Gaussian bumps.
        noise: observation noise standard deviation.
        seed: random seed.

    Returns:
        ``field`` ``(N, T, size, size)`` float32, ``time`` ``(T,)``, ``true_wave_speed``
        ``(N,)``.
    """
    if int(num_trials) < 1 or int(num_steps) < 1:
        raise ValueError(f"num_trials and num_steps must be >= 1, got {num_trials} and {num_steps}")
    if int(size) < 8:
        raise ValueError(f"size must be >= 8, got {size}")
    if not dt > 0:
        raise ValueError(f"dt must be positive, got {dt}")
    lo, hi = (float(v) for v in speed_range)
    if not 0 < lo <= hi:
        raise ValueError(f"speed_range must be (low, high) with 0 < low <= high, got {speed_range}")
    if int(max_bumps) < 1:
        raise ValueError(f"max_bumps must be >= 1, got {max_bumps}")
    rng = np.random.default_rng(seed)
    n, size = int(num_trials), int(size)
    c = rng.uniform(lo, hi, n)
    dx = 1.0 / size
    grid = (np.arange(size) + 0.5) * dx
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    u = np.zeros((n, size, size))
    for i in range(n):
        for _ in range(rng.integers(1, int(max_bumps) + 1)):
            cx, cy = rng.uniform(0, 1, 2)
            width = rng.uniform(0.05, 0.1)
            amp = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0)
            # periodic distance so bumps near an edge wrap smoothly
            ddx = np.minimum(np.abs(xx - cx), 1 - np.abs(xx - cx))
            ddy = np.minimum(np.abs(yy - cy), 1 - np.abs(yy - cy))
            u[i] += amp * np.exp(-(ddx**2 + ddy**2) / (2 * width**2))
    field = simulate_wave(u, c, int(num_steps), float(dt))
    if noise > 0:
        field = field + noise * rng.normal(size=field.shape)
    return {
        "field": field.astype(np.float32),
        "time": (np.arange(int(num_steps)) * float(dt)).astype(np.float32),
        "true_wave_speed": c.astype(np.float32),
    }


def wave_dataset(**kwargs: object) -> MultimodalDataset:
    """:func:`wave_arrays` as a :class:`MultimodalDataset` (same arguments)."""
    a = wave_arrays(**kwargs)  # type: ignore[arg-type]
    return MultimodalDataset(
        {"field": a["field"]}, time=a["time"], extras={"true_wave_speed": a["true_wave_speed"]}
    )


__all__ = ["simulate_wave", "wave_arrays", "wave_dataset"]
