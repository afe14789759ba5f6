from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

from pyrodyn.dynamics.plrnn import PLRNN, ClippedShallowPLRNN, ShallowPLRNN
from pyrodyn.dynamics.ridge import ridge_fit_shallow_plrnn


def _hidden_draw(hid, units, m, scale, seed):
    """The random W_2 / h_2 the fit draws from a generator seeded ``seed``."""
    g = torch.Generator().manual_seed(seed)
    w2 = torch.zeros(hid, m)
    w2[:, :units] = scale * torch.randn(hid, units, generator=g)
    return w2, scale * torch.randn(hid, generator=g)


@pytest.mark.parametrize("cls", [ShallowPLRNN, ClippedShallowPLRNN])
def test_recovers_the_weights_of_a_plrnn_with_the_same_hidden_layer(cls):
    torch.manual_seed(0)
    truth = cls(4, hidden_dim=12)
    w2, h2 = _hidden_draw(12, 4, 4, 0.7, seed=3)
    with torch.no_grad():
        truth.W2.copy_(w2)
        truth.h2.copy_(h2)
        truth.a.copy_(torch.tensor([0.5, -0.3, 0.9, 0.1]))
        truth.h1.copy_(torch.tensor([0.2, -0.1, 0.0, 0.3]))
    z = torch.randn(500, 4, dtype=torch.float64).float()
    z_next = truth.step(z).detach()
    fitted = cls(4, hidden_dim=12)
    residual = ridge_fit_shallow_plrnn(
        fitted, z, z_next, ridge=0.0, scale=0.7, generator=torch.Generator().manual_seed(3)
    )
    for name in ("a", "W1", "h1", "W2", "h2"):
        torch.testing.assert_close(getattr(fitted, name), getattr(truth, name), atol=2e-4, rtol=0)
    assert residual.shape == (4,) and float(residual.max()) < 1e-5


def test_matches_scikit_learn_ridge_per_unit():
    # scikit-learn's Ridge with an intercept penalises the coefficients but not the intercept
    torch.manual_seed(1)
    dyn = ClippedShallowPLRNN(3, hidden_dim=20)
    z = torch.randn(300, 3)
    z_next = 0.8 * z + 0.3 * torch.sin(2 * z.roll(1, -1)) + 0.05 * torch.randn(300, 3)
    ridge_fit_shallow_plrnn(
        dyn, z, z_next, ridge=0.5, scale=1.0, generator=torch.Generator().manual_seed(0)
    )
    phi = dyn._hidden(z @ dyn.W2.T).detach().double().numpy()
    for i in range(3):
        feats = np.concatenate([z[:, i : i + 1].double().numpy(), phi], 1)
        ref = Ridge(alpha=0.5, fit_intercept=True).fit(feats, z_next[:, i].double().numpy())
        np.testing.assert_allclose(float(dyn.a[i].detach()), ref.coef_[0], atol=1e-4)
        np.testing.assert_allclose(dyn.W1[i].detach().numpy(), ref.coef_[1:], atol=1e-4)
        np.testing.assert_allclose(float(dyn.h1[i].detach()), ref.intercept_, atol=1e-4)


def test_a_is_bounded_and_the_rest_refitted():
    z = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    z_next = torch.stack([1.5 * z[:, 0], -0.2 * z[:, 1]], -1)  # unit 0 grows: |a| would be 1.5
    dyn = ClippedShallowPLRNN(2, hidden_dim=5)
    residual = ridge_fit_shallow_plrnn(dyn, z, z_next, ridge=1e-6, max_abs_a=0.9)
    assert float(dyn.a[0].detach()) == pytest.approx(0.9)
    assert float(dyn.a[1].detach()) == pytest.approx(-0.2, abs=0.05)
    # the refit of unit 0 still follows its map as well as 5 bounded features can
    pred = dyn.step(z).detach()
    assert float(residual[0]) == pytest.approx(float((z_next[:, 0] - pred[:, 0]).std()), rel=1e-4)
    assert float(residual[0]) < float((z_next[:, 0] - 0.9 * z[:, 0]).std())


def test_units_beyond_the_fitted_ones_are_switched_off():
    dyn = ClippedShallowPLRNN(5, hidden_dim=8)
    z = torch.randn(100, 5)
    ridge_fit_shallow_plrnn(dyn, z, 0.5 * z, units=2)
    assert torch.all(dyn.a[2:] == 0) and torch.all(dyn.W1[2:] == 0) and torch.all(dyn.h1[2:] == 0)
    assert torch.all(dyn.W2[:, 2:] == 0) and torch.any(dyn.W2[:, :2] != 0)
    out = dyn.step(torch.randn(7, 5))
    assert torch.all(out[:, 2:] == 0)  # the switched-off units stay at 0


@pytest.mark.parametrize("cls", [ShallowPLRNN, ClippedShallowPLRNN])
def test_linear_unit_pairs_fit_a_full_linear_map_exactly(cls):
    # a rotation mixes the units: a diagonal A plus a few random features cannot follow it,
    # the ±e_j pairs can (exactly, inside the span)
    theta = 0.3
    rot = torch.tensor(
        [[np.cos(theta), -np.sin(theta), 0.0], [np.sin(theta), np.cos(theta), 0.0], [0, 0, 0.5]],
        dtype=torch.float32,
    )
    z = torch.rand(400, 3, generator=torch.Generator().manual_seed(0)) * 4 - 2  # |z| < 2
    z_next = z @ (0.95 * rot).T + 0.1
    with_pairs = cls(3, hidden_dim=8)
    res = ridge_fit_shallow_plrnn(with_pairs, z, z_next, ridge=0.0, linear_span=3.0)
    assert float(res.max()) < 1e-4
    torch.testing.assert_close(with_pairs.step(z).detach(), z_next, atol=1e-4, rtol=0)
    pairs = torch.tensor([[1.0, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])
    assert torch.equal(with_pairs.W2[:6].detach(), pairs)
    assert torch.all(with_pairs.h2[:6] == 3.0)
    without = cls(3, hidden_dim=8)
    res0 = ridge_fit_shallow_plrnn(without, z, z_next, ridge=0.0)
    assert float(res0.max()) > 100 * float(res.max())


def test_linear_span_needs_room_for_the_pairs():
    z = torch.randn(10, 3)
    with pytest.raises(
        ValueError,
        match=r"linear_span needs .*hidden_dim >= 2 \* units = 6; got "
        r"linear_span=1.0, hidden_dim=4",
    ):
        ridge_fit_shallow_plrnn(ClippedShallowPLRNN(3, hidden_dim=4), z, z, linear_span=1.0)
    with pytest.raises(ValueError, match=r"linear_span=0.0"):
        ridge_fit_shallow_plrnn(ClippedShallowPLRNN(3, hidden_dim=8), z, z, linear_span=0.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"units": 0}, r"units must be in \[1, 3\], got 0"),
        ({"units": 4}, r"units must be in \[1, 3\], got 4"),
        ({"ridge": -1.0}, r"need ridge >= 0, scale > 0 and 0 < max_abs_a <= 1; got ridge=-1.0"),
        ({"scale": 0.0}, r"need ridge >= 0, scale > 0 .*scale=0.0"),
        ({"max_abs_a": 1.5}, r"need ridge >= 0, .*max_abs_a=1.5"),
    ],
)
def test_bad_arguments(kwargs, message):
    z = torch.randn(10, 3)
    with pytest.raises(ValueError, match=message):
        ridge_fit_shallow_plrnn(ClippedShallowPLRNN(3, hidden_dim=4), z, z, **kwargs)


def test_bad_models_and_data():
    z = torch.randn(10, 3)
    with pytest.raises(TypeError, match=r"a ridge fit needs a ShallowPLRNN or .*got PLRNN"):
        ridge_fit_shallow_plrnn(PLRNN(3), z, z)
    with pytest.raises(ValueError, match=r"without inputs and without mean-centring"):
        ridge_fit_shallow_plrnn(ShallowPLRNN(3, hidden_dim=4, input_dim=2), z, z)
    with pytest.raises(ValueError, match=r"without inputs and without mean-centring"):
        ridge_fit_shallow_plrnn(ShallowPLRNN(3, hidden_dim=4, mean_centering=True), z, z)
    dyn = ClippedShallowPLRNN(3, hidden_dim=4)
    with pytest.raises(ValueError, match=r"z and z_next must both be \(N, 3\); got \(10, 3\) and"):
        ridge_fit_shallow_plrnn(dyn, z, z[:5])
    with pytest.raises(ValueError, match=r"z and z_next must both be \(N, 3\); got \(10, 2\)"):
        ridge_fit_shallow_plrnn(dyn, z[:, :2], z[:, :2])
    with pytest.raises(ValueError, match=r"needs at least 2 transitions, got 1"):
        ridge_fit_shallow_plrnn(dyn, z[:1], z[:1])
    bad = z.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"z and z_next must be finite"):
        ridge_fit_shallow_plrnn(dyn, bad, z)
