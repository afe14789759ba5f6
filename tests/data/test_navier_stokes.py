import numpy as np
import pytest

from pyrodyn.data.navier_stokes import (
    gaussian_random_field,
    navier_stokes_arrays,
    navier_stokes_dataset,
    simulate_vorticity,
)


def _grid(s):
    x = np.arange(s) / s
    return np.meshgrid(x, x, indexing="ij")


def test_single_shell_flow_decays_viscously():
    # on one wavenumber shell the advection term vanishes: w(t) = w0 exp(-nu |k|^2 t)
    yy, xx = _grid(16)
    w0 = np.cos(2 * np.pi * xx) + np.sin(2 * np.pi * yy)
    nu = np.array([1e-3, 1e-2])
    out = simulate_vorticity(np.stack([w0, w0]), nu, 11, 0.5)
    t = np.arange(11) * 0.5
    decay = np.exp(-nu[:, None] * (2 * np.pi) ** 2 * t)
    got = (out * w0).sum((2, 3)) / (w0 * w0).sum()
    np.testing.assert_allclose(got, decay, rtol=1e-5)


def test_forced_single_shell_steady_state_stays_put():
    # f on the |k|^2 = 8 pi^2 shell: w* = f / (nu 8 pi^2) is an exact steady state
    yy, xx = _grid(16)
    f = 0.1 * (np.sin(2 * np.pi * (xx + yy)) + np.cos(2 * np.pi * (xx + yy)))
    nu = 2e-3
    w_star = f / (nu * 8 * np.pi**2)
    out = simulate_vorticity(w_star[None], np.array([nu]), 6, 0.5, forcing=f)
    np.testing.assert_allclose(out[0, -1], w_star, atol=1e-8)


def test_arrays_contract_and_random_field():
    a = navier_stokes_arrays(3, 4, size=16, seed=2)
    assert a["field"].shape == (3, 4, 16, 16) and a["field"].dtype == np.float32
    nu = a["true_viscosity"]
    assert nu.shape == (3,) and ((nu >= 5e-4) & (nu <= 5e-3)).all()
    assert np.isfinite(a["field"]).all()
    b = navier_stokes_arrays(3, 4, size=16, seed=2)
    np.testing.assert_array_equal(a["field"], b["field"])
    g = gaussian_random_field(2, 16, np.random.default_rng(0))
    np.testing.assert_allclose(g.std(axis=(1, 2)), 1.0, rtol=1e-6)
    np.testing.assert_allclose(g.mean(axis=(1, 2)), 0.0, atol=1e-12)
    ds = navier_stokes_dataset(num_trials=2, num_steps=3, size=8)
    assert ds.feature_shape("field") == (8, 8) and "true_viscosity" in ds.extras


def test_bad_arguments_are_loud():
    with pytest.raises(ValueError, match="even int"):
        navier_stokes_arrays(1, 2, size=15)
    with pytest.raises(ValueError, match="viscosity_range"):
        navier_stokes_arrays(1, 2, viscosity_range=(0.0, 1.0))
    with pytest.raises(ValueError, match=r"w0 must be \(N, S, S\)"):
        simulate_vorticity(np.zeros((4, 4)), np.ones(1), 2, 0.1)
