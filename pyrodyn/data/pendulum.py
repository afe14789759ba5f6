"""Pendulum benchmarks with per-instance constants: vectors, 32x32 video and an angle sensor.

Every trajectory is one *instance* of ``theta'' = -(g/L) sin(theta) - b theta'`` with its own
``g/L`` and damping ``b`` (LaDID's realisation-specific constants; spec ladid 2.2). The video
follows MSVI's single-pendulum recipe (Iakovlev et al., ICLR 2023): a rod from the frame centre,
length ``0.45 * side``, width ``0.1 * side``, ``theta0 ~ U(0, 2 pi)``, ``theta'0 ~ U(-pi/2,
pi/2)``; with ``gl_range=(9.81, 9.81)`` and ``damping_range=(0, 0)`` it is that data set.

Arrays follow the data contract of DESIGN.md: one array per modality ``(trials, time,
*features)``, ``time`` ``(time,)``, ground truth under ``true_*``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pyrodyn.data.dataset import MultimodalDataset

#: Modality names produced by :func:`pendulum_arrays`.
MODALITIES = ("x", "video", "angle")


def _check_range(name: str, r: Sequence[float], *, positive: bool = False) -> tuple[float, float]:
    lo, hi = (float(v) for v in r)
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
        raise ValueError(f"{name} must be (low, high) with low <= high, got {tuple(r)}")
    if (positive and lo <= 0) or lo < 0:
        want = "positive" if positive else "non-negative"
        raise ValueError(f"{name} must be {want}, got {tuple(r)}")
    return lo, hi


def simulate_pendulum(
    theta0: np.ndarray,
    omega0: np.ndarray,
    gl: np.ndarray,
    damping: np.ndarray,
    num_steps: int,
    dt: float,
    substeps: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """Integrates damped pendulums with fixed-step RK4 (all instances at once).

    Args:
        theta0: ``(N,)`` initial angles.
        omega0: ``(N,)`` initial angular velocities.
        gl: ``(N,)`` g/L per instance.
        damping: ``(N,)`` damping per instance.
        num_steps: T, number of samples (the first is the initial state).
        dt: sampling interval.
        substeps: RK4 steps per sampling interval.

    Returns:
        ``theta`` and ``omega``, each ``(N, T)``.
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    if not dt > 0:
        raise ValueError(f"dt must be positive, got {dt}")
    th, om = np.asarray(theta0, float).copy(), np.asarray(omega0, float).copy()
    gl, b = np.asarray(gl, float), np.asarray(damping, float)
    h = dt / substeps

    def f(t: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return w, -gl * np.sin(t) - b * w

    thetas, omegas = [th.copy()], [om.copy()]
    for _ in range(num_steps - 1):
        for _ in range(substeps):
            k1 = f(th, om)
            k2 = f(th + 0.5 * h * k1[0], om + 0.5 * h * k1[1])
            k3 = f(th + 0.5 * h * k2[0], om + 0.5 * h * k2[1])
            k4 = f(th + h * k3[0], om + h * k3[1])
            th = th + h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
            om = om + h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
        thetas.append(th.copy())
        omegas.append(om.copy())
    return np.stack(thetas, 1), np.stack(omegas, 1)


def render_pendulum(theta: np.ndarray, size: int = 32, chunk: int = 4096) -> np.ndarray:
    """Grey-scale frames of a rod hanging from the centre at angle ``theta`` (0 = down).

    Args:
        theta: angles, any shape ``S``.
        size: frame side in pixels.
        chunk: frames rendered per vectorised batch (bounds memory).

    Returns:
        ``(*S, size, size)`` float32 in ``[0, 1]`` (anti-aliased over about one pixel).
    """
    if int(size) < 4:
        raise ValueError(f"size must be >= 4 pixels, got {size}")
    th = np.asarray(theta, float)
    flat = th.reshape(-1)
    c = (size - 1) / 2.0
    length, half_width = 0.45 * size, 0.05 * size
    yy, xx = np.meshgrid(np.arange(size, dtype=float), np.arange(size, dtype=float), indexing="ij")
    px, py = (xx - c).reshape(1, -1), (yy - c).reshape(1, -1)
    out = np.empty((flat.size, size * size), dtype=np.float32)
    for s in range(0, flat.size, chunk):
        t = flat[s : s + chunk, None]
        ux, uy = np.sin(t), np.cos(t)  # image y grows downwards: theta = 0 hangs down
        proj = np.clip(px * ux + py * uy, 0.0, length)
        dist = np.hypot(px - proj * ux, py - proj * uy)
        out[s : s + chunk] = np.clip(half_width + 0.5 - dist, 0.0, 1.0)
    return out.reshape(*th.shape, size, size)


def mixing_matrix(obs_dim: int, seed: int = 0) -> np.ndarray:
    """The fixed ``(obs_dim, 3)`` map from ``(sin theta, cos theta, theta' / 3)`` to vectors."""
    if int(obs_dim) < 3:
        raise ValueError(f"obs_dim must be >= 3 (the state has 3 features), got {obs_dim}")
    rng = np.random.default_rng(seed)
    return rng.normal(size=(int(obs_dim), 3)) / np.sqrt(3.0)


def pendulum_arrays(
    num_trials: int = 64,
    num_steps: int = 60,
    dt: float = 0.05,
    *,
    gl_range: Sequence[float] = (5.0, 15.0),
    damping_range: Sequence[float] = (0.0, 0.5),
    modalities: Sequence[str] = ("x",),
    obs_dim: int = 16,
    noise: float = 0.01,
    angle_noise: float = 0.1,
    size: int = 32,
    seed: int = 0,
    mixing_seed: int = 0,
) -> dict[str, np.ndarray]:
    """Pendulum instances with per-instance ``g/L`` and damping, in the ``.npz`` data contract.

    Modalities: ``"x"``, a noisy linear mix ``(obs_dim,)`` of ``(sin theta, cos theta, theta'/3)``
    (the mixing matrix depends on ``mixing_seed`` only, so every split shares it); ``"video"``,
    ``size x size`` frames in ``[0, 1]``; ``"angle"``, a noisy ``(sin theta, cos theta)`` sensor.

    Args:
        num_trials: N instances.
        num_steps: T samples per instance.
        dt: sampling interval (time stamps ``0, dt, 2 dt, ...``).
        gl_range: ``g/L ~ U(low, high)`` per instance (equal bounds: a fixed value).
        damping_range: damping ``~ U(low, high)`` per instance.
        modalities: subset of :data:`MODALITIES`.
        obs_dim: size of ``"x"``.
        noise: observation noise standard deviation of ``"x"``.
        angle_noise: noise standard deviation of ``"angle"``.
        size: video frame side.
        seed: seed of initial states, constants and noise.
        mixing_seed: seed of the fixed mixing matrix of ``"x"``.

    Returns:
        Modality arrays plus ``time`` ``(T,)``, ``true_gl`` and ``true_damping`` ``(N,)``,
        ``true_theta`` and ``true_omega`` ``(N, T)``.
    """
    if int(num_trials) < 1:
        raise ValueError(f"num_trials must be >= 1, got {num_trials}")
    unknown = [m for m in modalities if m not in MODALITIES]
    if unknown or not modalities:
        raise ValueError(f"modalities must be a non-empty subset of {MODALITIES}, got {modalities}")
    if noise < 0 or angle_noise < 0:
        raise ValueError(f"noise levels must be >= 0, got noise={noise}, angle_noise={angle_noise}")
    gl_lo, gl_hi = _check_range("gl_range", gl_range, positive=True)
    b_lo, b_hi = _check_range("damping_range", damping_range)
    rng = np.random.default_rng(seed)
    n = int(num_trials)
    gl = rng.uniform(gl_lo, gl_hi, n)
    damping = rng.uniform(b_lo, b_hi, n)
    theta0 = rng.uniform(0.0, 2 * np.pi, n)
    omega0 = rng.uniform(-np.pi / 2, np.pi / 2, n)
    theta, omega = simulate_pendulum(theta0, omega0, gl, damping, int(num_steps), float(dt))
    out: dict[str, np.ndarray] = {}
    if "x" in modalities:
        state = np.stack([np.sin(theta), np.cos(theta), omega / 3.0], -1)
        x = state @ mixing_matrix(obs_dim, mixing_seed).T
        out["x"] = (x + noise * rng.normal(size=x.shape)).astype(np.float32)
    if "video" in modalities:
        out["video"] = render_pendulum(theta, size)
    if "angle" in modalities:
        a = np.stack([np.sin(theta), np.cos(theta)], -1)
        out["angle"] = (a + angle_noise * rng.normal(size=a.shape)).astype(np.float32)
    out["time"] = (np.arange(int(num_steps)) * float(dt)).astype(np.float32)
    out["true_gl"] = gl.astype(np.float32)
    out["true_damping"] = damping.astype(np.float32)
    out["true_theta"] = theta.astype(np.float32)
    out["true_omega"] = omega.astype(np.float32)
    return out


def pendulum_dataset(**kwargs: object) -> MultimodalDataset:
    """:func:`pendulum_arrays` as a :class:`MultimodalDataset` (same arguments)."""
    arrays = pendulum_arrays(**kwargs)  # type: ignore[arg-type]
    return arrays_to_dataset(arrays)


def arrays_to_dataset(arrays: dict[str, np.ndarray]) -> MultimodalDataset:
    """Data-contract arrays (modalities, ``time``, ``true_*``) -> :class:`MultimodalDataset`."""
    extras = {k: v for k, v in arrays.items() if k.startswith(("true_", "label"))}
    mods = {k: v for k, v in arrays.items() if k != "time" and k not in extras}
    return MultimodalDataset(mods, time=arrays.get("time"), extras=extras)


__all__ = [
    "MODALITIES",
    "arrays_to_dataset",
    "mixing_matrix",
    "pendulum_arrays",
    "pendulum_dataset",
    "render_pendulum",
    "simulate_pendulum",
]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pyrodyn.data.pendulum OUT.npz [--trials N --steps T ...]`` writes a data set."""
    import argparse

    p = argparse.ArgumentParser(description="Write a pendulum-with-constants .npz data set")
    p.add_argument("out", help="output .npz path")
    p.add_argument("--trials", type=int, default=400)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--dt", type=float, default=0.05)
    p.add_argument("--modalities", default="x", help="comma-separated subset of x,video,angle")
    p.add_argument("--gl", type=float, nargs=2, default=(5.0, 15.0), metavar=("LOW", "HIGH"))
    p.add_argument("--damping", type=float, nargs=2, default=(0.0, 0.5), metavar=("LOW", "HIGH"))
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    arrays = pendulum_arrays(
        a.trials,
        a.steps,
        a.dt,
        gl_range=a.gl,
        damping_range=a.damping,
        modalities=tuple(m for m in a.modalities.split(",") if m),
        seed=a.seed,
    )
    np.savez(a.out, **arrays)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
