import numpy as np
import pytest

from pyrodyn.data.reaction_diffusion import (
    reaction_diffusion_arrays,
    reaction_diffusion_dataset,
    simulate_lambda_omega,
)


def test_uniform_field_follows_the_closed_form_of_the_lambda_omega_oscillator():
    # without gradients: A' = (1 - A^2) A, theta' = -beta A^2
    a0, th0, beta = 0.3, 0.4, np.array([1.3])
    u0 = np.full((1, 8, 8), a0 * np.cos(th0))
    v0 = np.full((1, 8, 8), a0 * np.sin(th0))
    out = simulate_lambda_omega(u0, v0, beta, 21, 0.1)
    t = np.arange(21) * 0.1
    g = 1 + a0**2 * (np.exp(2 * t) - 1)
    amp = a0 * np.exp(t) / np.sqrt(g)
    theta = th0 - beta[0] * 0.5 * np.log(g)
    np.testing.assert_allclose(out[0, :, 0, 3, 5], amp * np.cos(theta), atol=1e-4)
    np.testing.assert_allclose(out[0, :, 1, 3, 5], amp * np.sin(theta), atol=1e-4)


def test_small_fourier_mode_grows_at_one_minus_d_k_squared():
    # linearised at u = v = 0: u_t = d lap(u) + u, so sin(k x) grows as exp((1 - d k^2) t)
    s, length, d, eps = 32, 20.0, 0.1, 1e-5
    x = (np.arange(s) - s / 2) * (length / s)
    k = 2 * np.pi * 3 / length
    u0 = np.broadcast_to(eps * np.sin(k * x)[None, :], (s, s))[None].copy()
    out = simulate_lambda_omega(u0, np.zeros_like(u0), np.array([1.0]), 11, 0.1, diffusion=d)
    mask = np.abs(u0[0]) > eps / 2
    ratio = out[0, -1, 0][mask] / u0[0][mask]
    np.testing.assert_allclose(ratio, np.exp((1 - d * k**2) * 1.0), rtol=1e-4)


def test_arrays_contract_seeds_and_spiral_amplitude():
    a = reaction_diffusion_arrays(3, 5, size=16, grid=32, seed=1)
    assert a["field"].shape == (3, 5, 2, 16, 16) and a["field"].dtype == np.float32
    assert a["time"].shape == (5,) and a["true_beta"].shape == (3,)
    assert set(np.unique(a["true_arms"])) <= {1.0, 2.0, 3.0}
    b = reaction_diffusion_arrays(3, 5, size=16, grid=32, seed=1)
    np.testing.assert_array_equal(a["field"], b["field"])
    # away from the core (and the periodic seam) the spiral sits near the limit cycle A = 1
    amp = np.hypot(a["field"][:, -1, 0], a["field"][:, -1, 1])
    assert abs(float(amp[:, 8, 4].mean()) - 1) < 0.05  # x = -5, y = 0
    ds = reaction_diffusion_dataset(num_trials=2, num_steps=3, size=8, grid=16)
    assert ds.data["field"].shape == (2, 3, 2, 8, 8) and "true_beta" in ds.extras


def test_bad_arguments_are_loud():
    with pytest.raises(ValueError, match="grid a multiple of size"):
        reaction_diffusion_arrays(1, 2, size=16, grid=40)
    with pytest.raises(ValueError, match="beta_range"):
        reaction_diffusion_arrays(1, 2, beta_range=(2.0, 1.0))
    with pytest.raises(ValueError, match=r"u0 and v0 must be \(N, S, S\)"):
        simulate_lambda_omega(np.zeros((2, 4)), np.zeros((2, 4)), np.ones(1), 2, 0.1)
