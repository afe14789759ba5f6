"""2-D incompressible Navier-Stokes (vorticity form) with a per-instance viscosity (LaDID family).

The Fourier-neural-operator benchmark recipe (spec ladid 2.2) on the periodic unit square::

    w_t + u . grad(w) = nu lap(w) + f,    u = (d_y psi, -d_x psi),    -lap(psi) = w

with forcing ``f = forcing_amplitude (sin 2 pi (x + y) + cos 2 pi (x + y))`` and an initial
vorticity drawn from a Gaussian random field with covariance ``(-lap + tau^2)^(-alpha)``. The
viscosity ``nu`` is the instance constant (``true_viscosity``, log-uniform). Pseudo-spectral:
Crank-Nicolson for the viscous term, Heun (explicit, 2/3-rule dealiased) for advection and
forcing, all instances in one batched FFT.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pyrodyn.data.dataset import MultimodalDataset


def _wavenumbers(s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ky = 2 * np.pi * np.fft.fftfreq(s, d=1.0 / s)
    kx = 2 * np.pi * np.fft.rfftfreq(s, d=1.0 / s)
    return ky[:, None], kx[None, :], ky[:, None] ** 2 + kx[None, :] ** 2


def simulate_vorticity(
    w0: np.ndarray,
    viscosity: np.ndarray,
    num_steps: int,
    dt: float,
    *,
    forcing: np.ndarray | None = None,
    substep: float = 1e-2,
) -> np.ndarray:
    """Integrates the vorticity equation from ``w0`` on the periodic unit square.

    Args:
        w0: initial vorticity ``(N, S, S)``.
        viscosity: nu per instance ``(N,)``.
        num_steps: T frames (the first is ``w0``).
        dt: time between frames.
        forcing: ``(S, S)`` time-independent forcing (None: unforced).
        substep: largest solver step (the frame interval is split evenly).

    Returns:
        ``(N, T, S, S)``.
    """
    w = np.asarray(w0, dtype=float)
    nu = np.asarray(viscosity, dtype=float)
    if w.ndim != 3 or w.shape[1] != w.shape[2] or nu.shape != (w.shape[0],):
        raise ValueError(f"w0 must be (N, S, S) and viscosity (N,), got {w.shape} and {nu.shape}")
    if not (dt > 0 and substep > 0) or (nu < 0).any():
        raise ValueError(f"need dt > 0, substep > 0, viscosity >= 0; got {dt}, {substep}")
    s = w.shape[-1]
    ky, kx, k2 = _wavenumbers(s)
    inv_lap = np.where(k2 > 0, 1.0 / np.where(k2 > 0, k2, 1.0), 0.0)
    # 2/3-rule dealiasing of the quadratic advection term
    keep = (np.abs(ky) <= 2 * np.pi * s / 3) & (np.abs(kx) <= 2 * np.pi * s / 3)
    f_hat = 0.0 if forcing is None else np.fft.rfft2(np.asarray(forcing, dtype=float))
    n_sub = max(1, int(np.ceil(dt / substep)))
    h = dt / n_sub
    visc = nu[:, None, None] * k2
    cn = (1 - 0.5 * h * visc) / (1 + 0.5 * h * visc)
    step_in = h / (1 + 0.5 * h * visc)

    def rhs(wh: np.ndarray) -> np.ndarray:
        psi = wh * inv_lap
        u = np.fft.irfft2(1j * ky * psi, s=(s, s))
        v = np.fft.irfft2(-1j * kx * psi, s=(s, s))
        wx = np.fft.irfft2(1j * kx * wh, s=(s, s))
        wy = np.fft.irfft2(1j * ky * wh, s=(s, s))
        return -np.fft.rfft2(u * wx + v * wy) * keep + f_hat

    wh = np.fft.rfft2(w)
    frames = [w.copy()]
    for _ in range(int(num_steps) - 1):
        for _ in range(n_sub):
            n0 = rhs(wh)
            pred = cn * wh + step_in * n0
            wh = cn * wh + step_in * 0.5 * (n0 + rhs(pred))
        frames.append(np.fft.irfft2(wh, s=(s, s)))
    return np.stack(frames, 1)


def gaussian_random_field(
    num: int, size: int, rng: np.random.Generator, alpha: float = 2.5, tau: float = 7.0
) -> np.ndarray:
    """Zero-mean periodic fields ``(num, size, size)`` with spectrum ``(k^2 + tau^2)^(-alpha/2)``.

    Normalised to unit standard deviation per field.
    """
    _, _, k2 = _wavenumbers(size)
    amp = (k2 + tau**2) ** (-alpha / 2)
    amp[0, 0] = 0.0
    noise = rng.normal(size=(num, size, size // 2 + 1)) + 1j * rng.normal(
        size=(num, size, size // 2 + 1)
    )
    field = np.fft.irfft2(noise * amp, s=(size, size))
    return field / field.std(axis=(1, 2), keepdims=True)


def navier_stokes_arrays(
    num_trials: int = 32,
    num_steps: int = 50,
    dt: float = 0.2,
    *,
    size: int = 32,
    viscosity_range: Sequence[float] = (5e-4, 5e-3),
    forcing_amplitude: float = 0.1,
    noise: float = 0.0,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Vorticity snapshots in the ``.npz`` data contract.

    Args:
        num_trials: N instances.
        num_steps: T snapshots per instance.
        dt: time between snapshots.
        size: grid side.
        viscosity_range: ``log nu ~ U(log low, log high)`` per instance.
        forcing_amplitude: amplitude of the FNO forcing (0: unforced decay).
        noise: observation noise standard deviation.
        seed: random seed.

    Returns:
        ``field`` ``(N, T, size, size)`` float32, ``time`` ``(T,)``, ``true_viscosity`` ``(N,)``.
    """
    if int(num_trials) < 1 or int(num_steps) < 1:
        raise ValueError(f"num_trials and num_steps must be >= 1, got {num_trials} and {num_steps}")
    if int(size) < 8 or int(size) % 2:
        raise ValueError(f"size must be an even int >= 8, got {size}")
    lo, hi = (float(x) for x in viscosity_range)
    if not 0 < lo <= hi:
        raise ValueError(
            f"viscosity_range must be (low, high) with 0 < low <= high, got {viscosity_range}"
        )
    rng = np.random.default_rng(seed)
    n, size = int(num_trials), int(size)
    nu = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    w0 = gaussian_random_field(n, size, rng)
    x = np.arange(size) / size
    yy, xx = np.meshgrid(x, x, indexing="ij")
    f = forcing_amplitude * (np.sin(2 * np.pi * (xx + yy)) + np.cos(2 * np.pi * (xx + yy)))
    field = simulate_vorticity(w0, nu, int(num_steps), float(dt), forcing=f)
    if noise > 0:
        field = field + noise * rng.normal(size=field.shape)
    return {
        "field": field.astype(np.float32),
        "time": (np.arange(int(num_steps)) * float(dt)).astype(np.float32),
        "true_viscosity": nu.astype(np.float32),
    }


def navier_stokes_dataset(**kwargs: object) -> MultimodalDataset:
    """:func:`navier_stokes_arrays` as a :class:`MultimodalDataset` (same arguments)."""
    a = navier_stokes_arrays(**kwargs)  # type: ignore[arg-type]
    return MultimodalDataset(
        {"field": a["field"]}, time=a["time"], extras={"true_viscosity": a["true_viscosity"]}
    )


__all__ = [
    "gaussian_random_field",
    "navier_stokes_arrays",
    "navier_stokes_dataset",
    "simulate_vorticity",
]
