import numpy as np
import pytest

from pyrodyn.data.wave import simulate_wave, wave_arrays, wave_dataset


def test_shapes_and_constants():
    a = wave_arrays(3, 8, size=16, seed=2)
    assert a["field"].shape == (3, 8, 16, 16)
    assert a["true_wave_speed"].shape == (3,)
    assert ((a["true_wave_speed"] >= 0.5) & (a["true_wave_speed"] <= 1.5)).all()
    assert np.isfinite(a["field"]).all()
    ds = wave_dataset(num_trials=2, num_steps=4, size=16)
    assert ds.feature_shape("field") == (16, 16)


def test_standing_mode_oscillates_at_the_instance_frequency():
    """u0 = cos(2 pi x) gives u(t) = cos(w t) u0, w = c sqrt(discrete Laplacian eigenvalue)."""
    size, dt = 32, 0.02
    x = (np.arange(size) + 0.5) / size
    u0 = np.broadcast_to(np.cos(2 * np.pi * x)[None, :], (size, size))
    c = np.array([0.6, 1.4])
    u = simulate_wave(np.stack([u0, u0]), c, 40, dt)
    dx = 1.0 / size
    lam = (2 - 2 * np.cos(2 * np.pi * dx)) / dx**2
    t = np.arange(40) * dt
    amp = (u * u0).sum((2, 3)) / (u0 * u0).sum()
    np.testing.assert_allclose(amp, np.cos(np.sqrt(lam) * c[:, None] * t), atol=2e-3)
    # mass of a zero-velocity periodic solution is conserved by the generator too
    a = wave_arrays(3, 10, size=16, seed=1)
    mass = a["field"].sum((2, 3))
    np.testing.assert_allclose(mass, np.repeat(mass[:, :1], 10, 1), rtol=1e-4, atol=1e-3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="speed_range"):
        wave_arrays(2, 3, speed_range=(0.0, 1.0))
    with pytest.raises(ValueError, match="size"):
        wave_arrays(2, 3, size=4)
