"""PLRNN constructors (documented defaults, initial distributions, noise options) and bounds."""

import math

import numpy as np
import pytest
import torch

from pyrodyn.dynamics import (
    PLRNN,
    ClippedDendPLRNN,
    ClippedShallowPLRNN,
    DendPLRNN,
    ShallowPLRNN,
)

VARIANTS = {
    "plrnn": lambda **kw: PLRNN(3, **kw),
    "dend": lambda **kw: DendPLRNN(3, num_bases=2, **kw),
    "clipped_dend": lambda **kw: ClippedDendPLRNN(3, num_bases=2, **kw),
    "shallow": lambda **kw: ShallowPLRNN(3, hidden_dim=4, **kw),
    "clipped_shallow": lambda **kw: ClippedShallowPLRNN(3, hidden_dim=4, **kw),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_noise_and_centring_options_reach_every_variant(name):
    make = VARIANTS[name]
    fixed = make(noise_scale=0.2)
    torch.testing.assert_close(fixed.noise_scale, torch.full((3,), 0.2))
    assert "log_noise_scale" in dict(fixed.named_buffers())
    assert "log_noise_scale" not in dict(fixed.named_parameters())
    learned = make(noise_scale=0.2, learn_noise=True)
    assert "log_noise_scale" in dict(learned.named_parameters())
    assert make().noise_scale is None
    assert make(mean_centering=True).mean_centering is True
    assert make(mean_centering=False).mean_centering is False


def test_shallow_defaults():
    # the GTF formulation: 100 hidden units, no mean-centring, deterministic
    model = ShallowPLRNN(3)
    assert model.hidden_dim == 100 and model.W1.shape == (3, 100) and model.W2.shape == (100, 3)
    assert model.mean_centering is False and model.noise_scale is None
    assert ShallowPLRNN(3, hidden_dim=1).W1.shape == (3, 1)  # the smallest width
    with pytest.raises(ValueError, match="hidden_dim must be >= 1, got 0"):
        ShallowPLRNN(3, hidden_dim=0)


def _assert_uniform(x: torch.Tensor, bound: float) -> None:
    """Samples of U(-bound, bound): inside the interval and reaching near both ends."""
    assert float(x.max()) <= bound and float(x.min()) >= -bound
    assert float(x.max()) > 0.9 * bound and float(x.min()) < -0.9 * bound


@pytest.mark.parametrize("cls", [ShallowPLRNN, ClippedShallowPLRNN])
def test_shallow_initialisation_follows_the_spec(cls):
    m, hid = 16, 400
    model = cls(m, hidden_dim=hid)
    _assert_uniform(model.W1.detach(), 1 / math.sqrt(hid))
    _assert_uniform(model.W2.detach(), 1 / math.sqrt(m))
    _assert_uniform(model.h2.detach(), 1 / math.sqrt(m))
    assert torch.count_nonzero(model.h1) == 0


def _spectral(w: torch.Tensor) -> float:
    return float(np.linalg.norm(w.detach().numpy(), ord=2))


def test_contraction_bounds_follow_the_documented_formulas():
    torch.manual_seed(4)
    plrnn = PLRNN(4)
    dend = DendPLRNN(4, num_bases=3)
    shallow = ShallowPLRNN(4, hidden_dim=6)
    with torch.no_grad():
        for model in (plrnn, dend):
            model.AW.add_(0.5 * torch.randn(4, 4))  # not symmetric: the 2-norm differs from F
        shallow.W1.mul_(3.0)
    a = plrnn.diag_a().abs().max().item()
    assert plrnn.contraction_bound().item() == pytest.approx(a + _spectral(plrnn.weight_w()))
    a = dend.diag_a().abs().max().item()
    slope = dend.alpha.abs().sum().item()
    want = a + _spectral(dend.weight_w()) * slope
    assert dend.contraction_bound().item() == pytest.approx(want)
    a = shallow.a.abs().max().item()
    want = a + _spectral(shallow.W1) * _spectral(shallow.W2)
    assert shallow.contraction_bound().item() == pytest.approx(want)
    assert shallow.bounded_orbits() is (want < 1)


def test_noisy_rollout_is_the_stochastic_recursion():
    model = PLRNN(3, input_dim=1, noise_scale=0.3)
    z0, u = torch.randn(2, 3), torch.randn(2, 4, 1)
    torch.manual_seed(5)
    got = model.rollout(z0, 4, u, noise=True)
    torch.manual_seed(5)
    z, want = z0, []
    for k in range(4):
        z = model.step(z, u[:, k]) + 0.3 * torch.randn(2, 3)
        want.append(z)
    torch.testing.assert_close(got, torch.stack(want, 1))
    # noise is off by default, and inputs still enter the noise-free rollout
    det = torch.stack([model.step(z0, u[:, 0])], 1)
    torch.testing.assert_close(model.rollout(z0, 1, u), det)
    torch.testing.assert_close(model.rollout(z0, 1, u, noise=False), det)
    # without inputs, and with zero steps (batch shape kept)
    free = PLRNN(3, noise_scale=0.3)
    assert free.rollout(z0, 2, noise=True).shape == (2, 2, 3)
    assert free.rollout(torch.randn(2, 4, 3), 0, noise=True).shape == (2, 4, 0, 3)


def test_bounded_orbits_needs_a_bound_below_one():
    model = ClippedDendPLRNN(3, num_bases=2)
    with torch.no_grad():
        model.AW.copy_(torch.eye(3))  # max|a| = 1 exactly: not a contraction
    assert model.contraction_bound().item() == 1.0
    assert model.bounded_orbits() is False
