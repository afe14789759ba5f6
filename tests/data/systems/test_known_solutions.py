"""The benchmark systems against their published equations and known exact solutions.

Nothing here uses a system's own ``vector_field`` as the reference: the equations are written out
below (Lorenz 1963; Rössler 1976; Lorenz 1996), equilibria and invariant solutions are closed
forms, and trajectories are compared with ``scipy.integrate.solve_ivp`` (DOP853) on the
written-out equations at tight tolerance.
"""

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.linalg import expm

from pyrodyn.data.systems import Lorenz63, Lorenz96, Rossler


def _lorenz63(s, r, b):
    return lambda t, v: [s * (v[1] - v[0]), v[0] * (r - v[2]) - v[1], v[0] * v[1] - b * v[2]]


def _rossler(a, b, c):
    return lambda t, v: [-v[1] - v[2], v[0] + a * v[1], b + v[2] * (v[0] - c)]


def _lorenz96(n, f):
    def rhs(t, v):
        return [(v[(i + 1) % n] - v[i - 2]) * v[i - 1] - v[i] + f for i in range(n)]

    return rhs


# non-default parameters, all different, so a swapped or misplaced parameter shows
CASES = [
    (Lorenz63(sigma=9.0, rho=26.0, beta=2.5), _lorenz63(9.0, 26.0, 2.5)),
    (Rossler(a=0.15, b=0.3, c=6.1), _rossler(0.15, 0.3, 6.1)),
    (Lorenz96(7, forcing=6.5), _lorenz96(7, 6.5)),
]
IDS = ["lorenz63", "rossler", "lorenz96"]


@pytest.mark.parametrize(("system", "rhs"), CASES, ids=IDS)
def test_vector_field_is_the_published_equation(system, rhs):
    x = 3.0 * np.random.default_rng(0).standard_normal((5, 4, system.dim))
    want = np.array([[rhs(0.0, v) for v in row] for row in x])
    np.testing.assert_allclose(system.vector_field(0.0, x), want, rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize(("system", "rhs"), CASES, ids=IDS)
@pytest.mark.parametrize("method", ["LSODA", "DOP853"])
def test_simulate_matches_solve_ivp_on_the_written_out_equations(system, rhs, method):
    # a short horizon (about 3 Lyapunov times at most) keeps chaos from amplifying the tolerance
    x0 = system.default_x0 + np.random.default_rng(1).uniform(-1.0, 1.0, system.dim)
    dt, steps = 0.02, 100
    got = system.simulate(steps, dt=dt, transient=0, x0=x0, method=method, rtol=1e-12, atol=1e-12)
    times = np.arange(steps) * dt
    ref = solve_ivp(
        rhs, (0.0, times[-1]), x0, method="DOP853", t_eval=times, rtol=1e-13, atol=1e-13
    )
    assert ref.success
    np.testing.assert_allclose(got, ref.y.T, rtol=0, atol=1e-7 * np.abs(ref.y).max())


def test_lorenz63_equilibria_and_their_linearisation():
    s, r, b = 9.0, 26.0, 2.5
    system = Lorenz63(sigma=s, rho=r, beta=b)
    c = np.sqrt(b * (r - 1.0))
    eq = np.array([[0.0, 0.0, 0.0], [c, c, r - 1.0], [-c, -c, r - 1.0]])
    np.testing.assert_allclose(system.vector_field(0.0, eq), 0.0, atol=1e-12)
    # at the origin: -beta and the roots of l^2 + (s + 1) l + s (1 - r) = 0
    disc = np.sqrt((s + 1) ** 2 - 4 * s * (1 - r))
    want = np.sort([-b, (-(s + 1) - disc) / 2, (-(s + 1) + disc) / 2])
    got = np.sort(np.linalg.eigvals(system.jacobian(eq[0])).real)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # phase-space volume contracts at the constant rate -(s + 1 + b)
    x = np.random.default_rng(2).standard_normal((6, 3)) * 5
    np.testing.assert_allclose(np.trace(system.jacobian(x), axis1=-2, axis2=-1), -(s + 1 + b))


def test_lorenz63_z_axis_decays_exponentially():
    # x = y = 0 is invariant, with z(t) = z0 exp(-beta t)
    system = Lorenz63(beta=2.5)
    traj = system.simulate(50, dt=0.04, transient=0, x0=np.array([0.0, 0.0, 7.0]))
    t = np.arange(50) * 0.04
    np.testing.assert_allclose(traj[:, :2], 0.0, atol=1e-14)
    np.testing.assert_allclose(traj[:, 2], 7.0 * np.exp(-2.5 * t), rtol=1e-7)


def test_rossler_equilibria():
    a, b, c = 0.15, 0.3, 6.1
    system = Rossler(a=a, b=b, c=c)
    x = (c + np.array([-1.0, 1.0]) * np.sqrt(c**2 - 4 * a * b)) / 2
    eq = np.stack([x, -x / a, x / a], axis=-1)
    np.testing.assert_allclose(system.vector_field(0.0, eq), 0.0, atol=1e-12)


def test_rossler_plane_z0_with_b0_is_the_linear_oscillator():
    # with b = 0 the plane z = 0 is invariant and (x, y) solves x' = -y, y' = x + a y exactly
    a = 0.1
    system = Rossler(a=a, b=0.0, c=5.7)
    x0 = np.array([1.0, -0.5, 0.0])
    dt, steps = 0.1, 80
    traj = system.simulate(steps, dt=dt, transient=0, x0=x0)
    mat = np.array([[0.0, -1.0], [1.0, a]])
    want = np.stack([expm(mat * k * dt) @ x0[:2] for k in range(steps)])
    np.testing.assert_allclose(traj[:, 2], 0.0, atol=1e-14)
    np.testing.assert_allclose(traj[:, :2], want, rtol=0, atol=1e-7)


def test_lorenz96_fixed_point_and_energy():
    n, f = 7, 6.5
    system = Lorenz96(n, forcing=f)
    np.testing.assert_allclose(system.vector_field(0.0, np.full(n, f)), 0.0, atol=1e-12)
    # the advection term conserves energy: x . f(x) = -|x|^2 + F sum(x)
    x = np.random.default_rng(3).standard_normal((10, n)) * 4
    dot = np.sum(x * system.vector_field(0.0, x), axis=-1)
    np.testing.assert_allclose(dot, -np.sum(x**2, -1) + f * x.sum(-1), rtol=1e-12)
    # unforced, the energy decays as |x(t)|^2 = |x0|^2 exp(-2 t) although the flow is nonlinear
    free = Lorenz96(n, forcing=0.0)
    x0 = np.random.default_rng(4).standard_normal(n) * 3
    traj = free.simulate(40, dt=0.05, transient=0, x0=x0, rtol=1e-11, atol=1e-11)
    t = np.arange(40) * 0.05
    np.testing.assert_allclose(np.sum(traj**2, -1), np.sum(x0**2) * np.exp(-2 * t), rtol=1e-7)
