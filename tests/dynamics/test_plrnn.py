import pytest
import torch

from pyrodyn.dynamics import (
    PLRNN,
    ClippedDendPLRNN,
    ClippedShallowPLRNN,
    DendPLRNN,
    DynamicsModel,
    ShallowPLRNN,
)
from pyrodyn.dynamics.plrnn import normalized_positive_definite

VARIANTS = [
    lambda **kw: PLRNN(5, **kw),
    lambda **kw: DendPLRNN(5, num_bases=3, **kw),
    lambda **kw: ClippedDendPLRNN(5, num_bases=3, **kw),
    lambda **kw: ShallowPLRNN(5, hidden_dim=7, **kw),
    lambda **kw: ClippedShallowPLRNN(5, hidden_dim=7, **kw),
]
IDS = ["plrnn", "dend", "clipped_dend", "shallow", "clipped_shallow"]


@pytest.mark.parametrize("make", VARIANTS, ids=IDS)
@pytest.mark.parametrize("centre", [True, False])
def test_jacobian_matches_autograd(make, centre, device):
    model = make(mean_centering=centre, input_dim=2).to(device).double()
    z = torch.randn(4, 3, 5, dtype=torch.float64, device=device) * 2
    u = torch.randn(4, 3, 2, dtype=torch.float64, device=device)
    closed = model.jacobian(z, u)
    auto = DynamicsModel.jacobian(model, z, u)
    assert closed.shape == (4, 3, 5, 5)
    torch.testing.assert_close(closed, auto)


def test_clipped_dend_step_matches_equation(device):
    model = ClippedDendPLRNN(4, num_bases=3).to(device).double()
    z = torch.randn(6, 4, dtype=torch.float64, device=device)
    zc = z - z.mean(-1, keepdim=True)
    a, w = torch.diagonal(model.AW), model.AW - torch.diag(torch.diagonal(model.AW))
    basis = sum(
        model.alpha[b] * (torch.relu(zc + model.thresholds[:, b]) - torch.relu(zc))
        for b in range(3)
    )
    expected = a * z + basis @ w.T + model.h
    torch.testing.assert_close(model.step(z), expected)


def test_centring_only_inside_nonlinearity(device):
    # A z uses the uncentred state: with W = 0 the map is A z + h whatever the centring
    model = PLRNN(3).to(device)
    with torch.no_grad():
        model.AW.copy_(torch.diag(torch.tensor([0.5, 0.2, 0.1])))
    z = torch.tensor([[1.0, 2.0, 3.0]], device=device)
    torch.testing.assert_close(model.step(z), z * model.AW.diagonal() + model.h)


def test_initialisation_follows_spec():
    torch.manual_seed(1)
    mat = normalized_positive_definite(20)
    assert torch.allclose(mat, mat.T)
    eig = torch.linalg.eigvalsh(mat)
    assert eig.min() > 0
    assert eig.max() == pytest.approx(1.0, abs=1e-5)
    m = DendPLRNN(20, num_bases=5)
    assert m.h.abs().max() <= 1 / 20**0.5
    assert m.alpha.abs().max() <= 1 / 5**0.5
    assert m.thresholds.shape == (20, 5)


@pytest.mark.parametrize("make", VARIANTS, ids=IDS)
def test_bounded_long_free_run(make, device):
    torch.manual_seed(3)
    model = make().to(device)
    with torch.no_grad():
        # enforce each variant's sufficient condition for bounded orbits
        if isinstance(model, (PLRNN,)):
            model.AW.mul_(0.9)
        else:
            model.a.mul_(0.9)
        for _ in range(100):
            if model.bounded_orbits():
                break
            for name in ("AW", "W1"):
                if hasattr(model, name) and not isinstance(model, ClippedDendPLRNN):
                    p = getattr(model, name)
                    off = p - torch.diag(torch.diagonal(p)) if name == "AW" else p
                    p.sub_(0.2 * off)
    assert model.bounded_orbits()
    init = torch.randn(8, 5, device=device) * 10
    traj = model.rollout(init, 2000)
    assert torch.isfinite(traj).all()
    assert traj[:, -500:].abs().max() < 1e3


def test_unbounded_when_condition_fails(device):
    model = ClippedDendPLRNN(3, num_bases=2).to(device)
    with torch.no_grad():
        model.AW.copy_(torch.eye(3) * 1.5)
    assert not model.bounded_orbits()
    assert model.rollout(torch.ones(1, 3, device=device), 200).abs().max() > 1e10


def test_latent_noise_and_inputs(device):
    model = ClippedDendPLRNN(3, num_bases=2, input_dim=2, noise_scale=0.5, learn_noise=True)
    model = model.to(device)
    assert model.noise_scale.shape == (3,)
    z = torch.zeros(1000, 3, device=device)
    u = torch.randn(1000, 2, device=device)
    resid = model.sample_step(z, u) - model.step(z, u)
    assert resid.std().item() == pytest.approx(0.5, rel=0.1)
    traj = model.rollout(z[:2], 4, u[:2, None].expand(2, 4, 2), noise=True)
    assert traj.shape == (2, 4, 3)
    with pytest.raises(ValueError, match="pass inputs"):
        model.step(z)
    with pytest.raises(ValueError, match="noise_scale must be positive"):
        PLRNN(3, noise_scale=0.0)
    with pytest.raises(ValueError, match="num_bases"):
        DendPLRNN(3, num_bases=0)


def test_works_as_svae_prior(device):
    from pyrodyn.priors.dynamical import MarkovTrajectory

    model = ClippedShallowPLRNN(3, hidden_dim=4).to(device)
    d = MarkovTrajectory(model, torch.tensor(1.0), torch.full((3,), 0.1), 2, 5)
    z = d.rsample()
    assert z.shape == (2, 5, 3)
    assert torch.isfinite(d.log_prob(z)).all()


def test_jacobian_at_relu_kinks_uses_slope_zero():
    """At z = 0 some ReLU arguments are exactly 0: the closed form uses phi'(0) = 0, as autograd."""
    zero = torch.zeros(2, 4, dtype=torch.float64)
    dend = DendPLRNN(4, num_bases=3).double()
    clipped_dend = ClippedDendPLRNN(4, num_bases=3).double()
    shallow = ShallowPLRNN(4, hidden_dim=6).double()
    clipped_shallow = ClippedShallowPLRNN(4, hidden_dim=6).double()
    with torch.no_grad():
        for m in (dend, clipped_dend):
            m.thresholds[:, 0] = 0.0  # z̄ + θ_0 = 0 at z = 0
            m.thresholds[:, 1] = 1.0
        for m in (shallow, clipped_shallow):
            m.h2.copy_(torch.tensor([0.0, 1.0, -1.0, 0.0, 2.0, 0.5]))  # W_2 z + h_2 = h_2
    for model in (PLRNN(4).double(), dend, clipped_dend, shallow, clipped_shallow):
        torch.testing.assert_close(model.jacobian(zero), DynamicsModel.jacobian(model, zero))
    # written out for the clipped shallow map at z = 0: A + W_1 diag(1[h_2 > 0]) W_2
    want = (
        torch.diag(clipped_shallow.a)
        + (clipped_shallow.W1 * (clipped_shallow.h2 > 0).double()) @ clipped_shallow.W2
    )
    torch.testing.assert_close(clipped_shallow.jacobian(zero[0]), want.detach())


def test_sample_step_adds_scaled_standard_normal_noise():
    z = torch.randn(5, 3)
    deterministic = PLRNN(3)
    torch.testing.assert_close(deterministic.sample_step(z), deterministic.step(z))
    noisy = PLRNN(3, noise_scale=0.3)
    torch.manual_seed(11)
    eps = torch.randn(5, 3)
    torch.manual_seed(11)
    torch.testing.assert_close(noisy.sample_step(z), noisy.step(z) + 0.3 * eps)
