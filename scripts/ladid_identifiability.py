"""How well does a 10-frame context determine g/L? (reference for LaDID's probe target)

Estimates each test pendulum's g/L from its first ``--context`` frames *with the true equations
and the true observation map* (no learning), on the data of ``scripts/bench_ladid.py`` (400 train
/ 50 test trajectories, seeds 0 / 1), and reports R^2 against the true g/L:

* ``ode_fit``: least-squares fit of the damped-pendulum ODE over a grid of (g/L, damping), the
  initial state read from frame 0 through the pseudo-inverse of the mixing matrix;
* ``finite_difference``: acceleration (finite differences of the recovered velocity) regressed
  on ``-sin(theta)`` and ``-theta'`` per trajectory.

    .venv/bin/python scripts/ladid_identifiability.py
    .venv/bin/python scripts/ladid_identifiability.py --dt 0.1 --mixing-seed 1   # bench_ladid's
"""

from __future__ import annotations

import argparse

import numpy as np

from pyrodyn.data.pendulum import mixing_matrix, pendulum_arrays, simulate_pendulum

DT = 0.05  # the default of --dt


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    return float(1.0 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def _states(x: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(N, C, 16)`` observations -> angles and velocities ``(N, C)``."""
    s = x @ np.linalg.pinv(a).T
    return np.arctan2(s[..., 0], s[..., 1]), 3.0 * s[..., 2]


def finite_difference(x: np.ndarray, a: np.ndarray, dt: float = DT) -> np.ndarray:
    """g/L per trajectory from ``theta'' = -(g/L) sin(theta) - c theta'``."""
    th, v = _states(x, a)
    acc = np.gradient(v, dt, axis=1)
    out = []
    for i in range(len(x)):
        m = np.stack([-np.sin(th[i]), -v[i]], 1)
        out.append(np.linalg.lstsq(m, acc[i], rcond=None)[0][0])
    return np.asarray(out)


def ode_fit(x: np.ndarray, a: np.ndarray, dt: float = DT) -> np.ndarray:
    """g/L per trajectory by a grid search over (g/L, damping) of the simulated frames."""
    grid_gl, grid_c = np.meshgrid(np.arange(4.0, 16.01, 0.1), np.arange(0.0, 0.51, 0.05))
    gl, c = grid_gl.ravel(), grid_c.ravel()
    th0, v0 = _states(x[:, :1], a)
    out = []
    for i in range(len(x)):
        th, om = simulate_pendulum(
            np.full(gl.size, th0[i, 0]), np.full(gl.size, v0[i, 0]), gl, c, x.shape[1], dt, 5
        )
        sim = np.stack([np.sin(th), np.cos(th), om / 3.0], -1) @ a.T
        out.append(gl[((sim - x[i][None]) ** 2).sum((1, 2)).argmin()])
    return np.asarray(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--context", type=int, default=10)
    p.add_argument("--dt", type=float, default=DT, help="sampling interval (bench_ladid --dt)")
    p.add_argument("--mixing-seed", type=int, default=0, help="bench_ladid --mixing-seed")
    args = p.parse_args(argv)
    kw = {"modalities": ("x",), "dt": args.dt, "mixing_seed": args.mixing_seed}
    test = pendulum_arrays(50, 60, seed=1, **kw)
    a = mixing_matrix(16, args.mixing_seed)
    x, y = test["x"][:, : args.context], test["true_gl"]
    print(f"finite_difference R2 g/L: {_r2(y, finite_difference(x, a, args.dt)):.3f}")
    print(f"ode_fit R2 g/L: {_r2(y, ode_fit(x, a, args.dt)):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
