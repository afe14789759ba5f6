"""lambda-omega reaction-diffusion spirals with a per-instance constant (a LaDID benchmark family).

The system of the SINDy-autoencoder / PDE-FIND benchmarks (spec ladid 2.2), on the periodic square
``[-L/2, L/2]^2``::

    u_t = d lap(u) + (1 - A^2) u + beta A^2 v
    v_t = d lap(v) - beta A^2 u + (1 - A^2) v,        A^2 = u^2 + v^2

Without diffusion the amplitude relaxes to ``A = 1`` and the phase turns at ``-beta A^2``, so a
spiral initial condition ``u + i v = tanh(r) exp(i (m theta - r + phase))`` rotates. Each instance
draws the number of arms ``m``, the phase and the twist rate ``beta`` (the instance constant,
``true_beta``). Integrated pseudo-spectrally: diffusion exactly in Fourier space (integrating
factor), the reaction by a second-order Runge-Kutta step in between (Strang splitting), on a fine
grid that is subsampled to the output size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pyrodyn.data.dataset import MultimodalDataset


def _reaction(u: np.ndarray, v: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a2 = u**2 + v**2
    return (1 - a2) * u + beta * a2 * v, -beta * a2 * u + (1 - a2) * v


def simulate_lambda_omega(
    u0: np.ndarray,
    v0: np.ndarray,
    beta: np.ndarray,
    num_steps: int,
    dt: float,
    *,
    length: float = 20.0,
    diffusion: float = 0.1,
    substep: float = 0.01,
) -> np.ndarray:
    """Integrates the lambda-omega system from ``(u0, v0)``.

    Args:
        u0: initial ``u`` ``(N, S, S)`` on the periodic square of side ``length``.
        v0: initial ``v``, same shape.
        beta: twist rate per instance ``(N,)``.
        num_steps: T frames (the first is the initial condition).
        dt: time between frames.
        length: side of the periodic square.
        diffusion: d, the diffusion coefficient of both fields.
        substep: largest solver step (the frame interval is split evenly).

    Returns:
        ``(N, T, 2, S, S)``: ``u`` and ``v`` per frame.
    """
    u, v = np.asarray(u0, dtype=float), np.asarray(v0, dtype=float)
    b = np.asarray(beta, dtype=float)
    if u.ndim != 3 or u.shape[1] != u.shape[2] or v.shape != u.shape or b.shape != (u.shape[0],):
        raise ValueError(
            f"u0 and v0 must be (N, S, S) and beta (N,), got {u.shape}, {v.shape}, {b.shape}"
        )
    if not (dt > 0 and substep > 0 and length > 0 and diffusion >= 0):
        raise ValueError(
            "need dt > 0, substep > 0, length > 0, diffusion >= 0; got "
            f"{dt}, {substep}, {length}, {diffusion}"
        )
    s = u.shape[-1]
    ky = 2 * np.pi * np.fft.fftfreq(s, d=length / s)
    kx = 2 * np.pi * np.fft.rfftfreq(s, d=length / s)
    k2 = ky[:, None] ** 2 + kx[None, :] ** 2
    n_sub = max(1, int(np.ceil(dt / substep)))
    h = dt / n_sub
    half = np.exp(-diffusion * k2 * h / 2)  # exact diffusion over half a step
    bb = b[:, None, None]

    def diffuse(x: np.ndarray) -> np.ndarray:
        return np.fft.irfft2(np.fft.rfft2(x) * half, s=x.shape[-2:])

    frames = [np.stack([u, v], 1)]
    for _ in range(int(num_steps) - 1):
        for _ in range(n_sub):
            u, v = diffuse(u), diffuse(v)
            # Heun step of the reaction
            fu, fv = _reaction(u, v, bb)
            gu, gv = _reaction(u + h * fu, v + h * fv, bb)
            u, v = u + 0.5 * h * (fu + gu), v + 0.5 * h * (fv + gv)
            u, v = diffuse(u), diffuse(v)
        frames.append(np.stack([u, v], 1))
    return np.stack(frames, 1)


def reaction_diffusion_arrays(
    num_trials: int = 32,
    num_steps: int = 60,
    dt: float = 0.1,
    *,
    size: int = 32,
    grid: int = 64,
    beta_range: Sequence[float] = (0.5, 1.5),
    arms: Sequence[int] = (1, 2, 3),
    length: float = 20.0,
    diffusion: float = 0.1,
    noise: float = 0.0,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Spiral waves in the ``.npz`` data contract.

    Args:
        num_trials: N instances.
        num_steps: T frames per instance.
        dt: time between frames.
        size: output side (the fine ``grid`` subsampled every ``grid // size`` points).
        grid: simulation side; a multiple of ``size``.
        beta_range: ``beta ~ U(low, high)`` per instance.
        arms: the numbers of spiral arms ``m`` drawn from (uniformly).
        length: side of the periodic square.
        diffusion: diffusion coefficient.
        noise: observation noise standard deviation.
        seed: random seed.

    Returns:
        ``field`` ``(N, T, 2, size, size)`` float32 (``u``, ``v``), ``time`` ``(T,)``,
        ``true_beta`` ``(N,)``, ``true_arms`` ``(N,)``, ``true_phase`` ``(N,)``.
    """
    if int(num_trials) < 1 or int(num_steps) < 1:
        raise ValueError(f"num_trials and num_steps must be >= 1, got {num_trials} and {num_steps}")
    size, grid = int(size), int(grid)
    if size < 8 or grid < size or grid % size:
        raise ValueError(
            f"need size >= 8 and grid a multiple of size, got size {size}, grid {grid}"
        )
    lo, hi = (float(x) for x in beta_range)
    if not lo <= hi:
        raise ValueError(f"beta_range must be (low, high) with low <= high, got {beta_range}")
    arms = [int(m) for m in arms]
    if not arms or any(m < 0 for m in arms):
        raise ValueError(f"arms must be a non-empty list of ints >= 0, got {arms}")
    rng = np.random.default_rng(seed)
    n = int(num_trials)
    beta = rng.uniform(lo, hi, n)
    m = rng.choice(arms, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    x = (np.arange(grid) - grid / 2) * (length / grid)
    yy, xx = np.meshgrid(x, x, indexing="ij")
    r = np.hypot(xx, yy)
    theta = np.arctan2(yy, xx)
    arg = m[:, None, None] * theta - r + phase[:, None, None]
    amp = np.tanh(r)
    field = simulate_lambda_omega(
        amp * np.cos(arg),
        amp * np.sin(arg),
        beta,
        int(num_steps),
        float(dt),
        length=length,
        diffusion=diffusion,
    )
    step = grid // size
    field = field[..., ::step, ::step]
    if noise > 0:
        field = field + noise * rng.normal(size=field.shape)
    return {
        "field": field.astype(np.float32),
        "time": (np.arange(int(num_steps)) * float(dt)).astype(np.float32),
        "true_beta": beta.astype(np.float32),
        "true_arms": m.astype(np.float32),
        "true_phase": phase.astype(np.float32),
    }


def reaction_diffusion_dataset(**kwargs: object) -> MultimodalDataset:
    """:func:`reaction_diffusion_arrays` as a :class:`MultimodalDataset` (same arguments)."""
    a = reaction_diffusion_arrays(**kwargs)  # type: ignore[arg-type]
    extras = {k: v for k, v in a.items() if k.startswith("true_")}
    return MultimodalDataset({"field": a["field"]}, time=a["time"], extras=extras)


__all__ = ["reaction_diffusion_arrays", "reaction_diffusion_dataset", "simulate_lambda_omega"]
