"""scripts/bench_ladid.py: the --dt / --mixing-seed generalisation set (issue 17 item 5)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pyrodyn.data.pendulum import mixing_matrix


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script("bench_ladid")


def _args(**kw):
    base = dict(quick=True, dt=0.05, mixing_seed=0)
    return SimpleNamespace(**{**base, **kw})


def _fitted_mixing(ds) -> np.ndarray:
    """Least-squares map from the true (sin, cos, omega/3) to the observed x (noise sd 0.01)."""
    theta, omega = ds.extras["true_theta"].numpy(), ds.extras["true_omega"].numpy()
    state = np.stack([np.sin(theta), np.cos(theta), omega / 3.0], -1).reshape(-1, 3)
    x = ds.data["x"].numpy().reshape(-1, 16)
    return np.linalg.lstsq(state, x, rcond=None)[0].T


def test_sets_follow_dt_and_the_dense_set_halves_it(bench):
    sets = bench.pendulum_sets(_args(dt=0.1), ("x",))
    for name in ("train", "test", "long", "new_train", "new_test"):
        steps = torch.diff(sets[name].time, dim=-1)
        torch.testing.assert_close(steps, torch.full_like(steps, 0.1), atol=1e-6, rtol=0, msg=name)
    dense = torch.diff(sets["dense"].time, dim=-1)
    torch.testing.assert_close(dense, torch.full_like(dense, 0.05), atol=1e-6, rtol=0)


def test_mixing_seed_changes_the_observation_map_of_every_set(bench):
    sets = bench.pendulum_sets(_args(mixing_seed=3), ("x",))
    want, default = mixing_matrix(16, 3), mixing_matrix(16, 0)
    assert not np.allclose(want, default, atol=0.1)
    for name, ds in sets.items():
        np.testing.assert_allclose(_fitted_mixing(ds), want, atol=0.02, err_msg=name)


def test_default_flags_keep_the_shipped_set(bench):
    sets = bench.pendulum_sets(_args(), ("x",))
    np.testing.assert_allclose(_fitted_mixing(sets["train"]), mixing_matrix(16, 0), atol=0.02)
    steps = torch.diff(sets["train"].time, dim=-1)
    torch.testing.assert_close(steps, torch.full_like(steps, 0.05), atol=1e-6, rtol=0)


def test_time_encoding_spans_twice_the_window_at_the_given_dt(bench):
    args = SimpleNamespace(
        code_dim=8,
        split_state=4,
        model_dim=16,
        layers=1,
        window=0.45,
        state_frames=5,
        constants_crop=True,
        hidden=16,
        dropout=0.0,
        octaves=5.0,
        time_scale=2.0,
        dt=0.1,
    )
    model = bench.build_ladid({"x": 16}, args)
    assert model.dynamics.query_guard.max_period == pytest.approx(2 * 60 * 0.1)


def test_identifiability_reference_follows_dt_and_mixing(load_script):
    """With the set's own dt and mixing, the noise-free ODE fit recovers g/L to about its grid step;
    with the wrong dt it does not."""
    from pyrodyn.data.pendulum import pendulum_arrays

    ident = load_script("ladid_identifiability")
    kw = {"modalities": ("x",), "dt": 0.1, "mixing_seed": 1, "noise": 0.0}
    data = pendulum_arrays(6, 10, seed=1, **kw)
    a = mixing_matrix(16, 1)
    right = ident.ode_fit(data["x"], a, 0.1)
    np.testing.assert_allclose(right, data["true_gl"], atol=0.15)  # grids: g/L 0.1, damping 0.05
    wrong = ident.ode_fit(data["x"], a, 0.05)
    assert np.abs(wrong - data["true_gl"]).max() > 1.0
