import numpy as np
import pytest

from pyrodyn.data.systems import DynamicalSystem, Lorenz63, Lorenz96, Rossler

SYSTEMS = [Lorenz63(), Rossler(), Lorenz96(6)]


@pytest.mark.parametrize("system", SYSTEMS, ids=repr)
def test_trajectory_follows_vector_field(system):
    dt = system.default_dt / 10  # fine sampling so a central difference approximates dx/dt
    x = system.simulate(400, dt=dt, transient=50, seed=0)
    assert x.shape == (400, system.dim)
    deriv = (x[2:] - x[:-2]) / (2 * dt)
    field = system.vector_field(0.0, x[1:-1])
    scale = np.abs(field).mean()
    assert np.abs(deriv - field).mean() < 2e-3 * scale


@pytest.mark.parametrize("system", SYSTEMS, ids=repr)
def test_jacobians_match_finite_differences(system):
    x = system.simulate(3, transient=20, seed=1)
    eps = 1e-6
    eye = np.eye(system.dim)
    num = np.stack(
        [
            (system.vector_field(0, x + eps * e) - system.vector_field(0, x - eps * e)) / (2 * eps)
            for e in eye
        ],
        axis=-1,
    )
    np.testing.assert_allclose(system.jacobian(x), num, atol=1e-6)
    num_step = np.stack(
        [(system.step(x[0] + eps * e) - system.step(x[0] - eps * e)) / (2 * eps) for e in eye], -1
    )
    np.testing.assert_allclose(system.step_jacobian(x[0]), num_step, atol=1e-6)
    # Vectorised over leading dimensions.
    assert system.step(x).shape == x.shape
    assert system.step_jacobian(x).shape == (3, system.dim, system.dim)


def test_rk4_step_agrees_with_integrator():
    system = Lorenz63()
    x = system.simulate(2, dt=0.01, transient=100, seed=2)
    np.testing.assert_allclose(system.step(x[0], 0.01), x[1], rtol=1e-6, atol=1e-6)


def test_seed_reproducibility_and_solve_ivp_path():
    system = Lorenz63()
    a = system.simulate(200, transient=10, seed=4)
    np.testing.assert_array_equal(a, system.simulate(200, transient=10, seed=4))
    assert not np.allclose(a, system.simulate(200, transient=10, seed=5))
    b = system.simulate(20, transient=10, seed=4, method="RK45")
    np.testing.assert_allclose(a[:20], b, rtol=1e-4, atol=1e-4)
    x0 = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(system.simulate(1, transient=0, x0=x0)[0], x0)


def test_default_finite_difference_jacobian():
    class Linear(DynamicalSystem):
        dim, default_dt, default_x0 = 2, 0.1, np.array([1.0, 0.0])
        A = np.array([[0.0, 1.0], [-1.0, -0.1]])

        def vector_field(self, t, x):
            return np.asarray(x) @ self.A.T

    np.testing.assert_allclose(Linear().jacobian(np.array([0.3, -0.2])), Linear.A, atol=1e-8)


def test_lorenz96_any_size_and_attractor_statistics():
    system = Lorenz96(5, forcing=8.0)
    assert system.dim == 5
    x = system.simulate(500, transient=200, seed=0)
    assert 1.0 < x.mean() < 4.0 and x.std() > 2.0  # chaotic, not at the fixed point x_i = F
    with pytest.raises(ValueError, match="num_variables >= 4"):
        Lorenz96(3)


def test_bad_arguments():
    system = Rossler()
    with pytest.raises(ValueError, match="num_steps must be >= 1"):
        system.simulate(0)
    with pytest.raises(ValueError, match="dt must be > 0"):
        system.simulate(10, dt=-0.1)
    with pytest.raises(ValueError, match=r"x0 must have last dimension 3"):
        system.simulate(10, x0=np.zeros(2))
    with pytest.raises(ValueError, match="transient must be >= 0"):
        system.simulate(10, transient=-1)
