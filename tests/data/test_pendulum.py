import numpy as np
import pytest
from scipy.integrate import solve_ivp

from pyrodyn.data.pendulum import (
    pendulum_arrays,
    pendulum_dataset,
    render_pendulum,
    simulate_pendulum,
)


def test_small_angle_matches_harmonic_oscillator():
    gl = np.array([4.0, 9.0])
    theta, omega = simulate_pendulum(np.array([0.01, 0.01]), np.zeros(2), gl, np.zeros(2), 41, 0.05)
    t = np.arange(41) * 0.05
    ref = 0.01 * np.cos(np.sqrt(gl)[:, None] * t)
    np.testing.assert_allclose(theta, ref, atol=2e-6)
    assert omega.shape == (2, 41)


def test_energy_is_conserved_without_damping_and_decays_with_it():
    th0, om0 = np.array([2.0, 2.0]), np.array([0.5, 0.5])
    gl = np.array([10.0, 10.0])
    theta, omega = simulate_pendulum(th0, om0, gl, np.array([0.0, 0.5]), 61, 0.05)
    energy = 0.5 * omega**2 + gl[:, None] * (1 - np.cos(theta))
    assert np.ptp(energy[0]) < 1e-6 * energy[0, 0]
    assert energy[1, -1] < 0.5 * energy[1, 0]


def test_damped_large_swings_match_solve_ivp():
    # theta'' = -(g/L) sin(theta) - b theta', written out and integrated by scipy at 1e-12
    th0, om0 = np.array([2.5, -1.0, 0.3]), np.array([0.5, 3.0, -2.0])
    gl, damping = np.array([9.81, 5.0, 14.0]), np.array([0.0, 0.3, 0.8])
    dt, steps = 0.05, 81
    theta, omega = simulate_pendulum(th0, om0, gl, damping, steps, dt)
    t = np.arange(steps) * dt
    for i in range(3):

        def rhs(_, y, i=i):
            return [y[1], -gl[i] * np.sin(y[0]) - damping[i] * y[1]]

        ref = solve_ivp(
            rhs, (0, t[-1]), [th0[i], om0[i]], "DOP853", t_eval=t, rtol=1e-12, atol=1e-12
        )
        np.testing.assert_allclose(theta[i], ref.y[0], rtol=0, atol=1e-7)
        np.testing.assert_allclose(omega[i], ref.y[1], rtol=0, atol=1e-6)


def test_equilibria_stay_put():
    # hanging at rest is an exact equilibrium; the inverted one too (sin(pi) ~ 1e-16 aside)
    theta, omega = simulate_pendulum(
        np.array([0.0, np.pi]), np.zeros(2), np.full(2, 9.81), np.full(2, 0.2), 21, 0.05
    )
    np.testing.assert_array_equal(theta[0], 0.0)
    np.testing.assert_array_equal(omega[0], 0.0)
    np.testing.assert_allclose(theta[1], np.pi, atol=1e-12)


def test_arrays_follow_the_data_contract():
    a = pendulum_arrays(5, 12, 0.1, modalities=("x", "video", "angle"), seed=3)
    assert a["x"].shape == (5, 12, 16)
    assert a["video"].shape == (5, 12, 32, 32)
    assert a["angle"].shape == (5, 12, 2)
    np.testing.assert_allclose(a["time"], np.arange(12) * 0.1, rtol=1e-6)
    assert a["true_gl"].shape == (5,) and a["true_damping"].shape == (5,)
    assert ((a["true_gl"] >= 5) & (a["true_gl"] <= 15)).all()
    assert a["video"].min() >= 0 and a["video"].max() <= 1
    # splits share the observation map: same state, same noiseless observation
    b = pendulum_arrays(5, 12, 0.1, seed=4, noise=0.0)
    c = pendulum_arrays(5, 12, 0.1, seed=4, noise=0.0, mixing_seed=0)
    np.testing.assert_array_equal(b["x"], c["x"])
    ds = pendulum_dataset(num_trials=4, num_steps=10, dt=0.05)
    assert ds.num_trials == 4 and "true_gl" in ds.extras
    assert float(ds.time[0, 1]) == pytest.approx(0.05)


def test_fixed_constants_and_render_geometry():
    a = pendulum_arrays(3, 5, gl_range=(9.81, 9.81), damping_range=(0, 0), seed=1)
    np.testing.assert_allclose(a["true_gl"], 9.81, rtol=1e-6)
    down = render_pendulum(np.array([0.0]), 32)[0]
    # hanging down: the rod lights the lower half below the centre column
    assert down[28, 15:17].max() > 0.9 and down[3, 15:17].max() == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="modalities must be a non-empty subset"):
        pendulum_arrays(2, 3, modalities=("eeg",))
    with pytest.raises(ValueError, match="gl_range must be positive"):
        pendulum_arrays(2, 3, gl_range=(0.0, 1.0))
    with pytest.raises(ValueError, match="low <= high"):
        pendulum_arrays(2, 3, damping_range=(0.5, 0.1))
    with pytest.raises(ValueError, match="dt must be positive"):
        simulate_pendulum(np.zeros(1), np.zeros(1), np.ones(1), np.zeros(1), 3, 0.0)
