import numpy as np
import pytest
import torch

from pyrodyn.dynamics import (
    AdaptiveForcingAlpha,
    ClippedDendPLRNN,
    LinearDynamics,
    generalized_forcing_rollout,
    jacobian_growth,
    sparse_forcing_rollout,
    suggest_forcing_interval,
)


class Counter(LinearDynamics):
    """z -> z + 1: makes the time since the last forcing visible."""

    def step(self, z, u=None):
        return z + 1.0


@pytest.mark.parametrize("tau", [1, 3, 4, 7])
def test_forcing_happens_exactly_every_tau_steps(tau, device):
    t, k, m = 20, 2, 3
    teacher = 100.0 * torch.arange(t, device=device).float()[None, :, None].expand(1, t, k)
    out = sparse_forcing_rollout(Counter(m), teacher, tau, init=torch.zeros(1, 1, device=device))
    for step in range(t):
        last = (step // tau) * tau
        # forced units: teacher value of the last forcing point + steps since it
        assert out[0, step, 0].item() == 100.0 * last + (step - last + 1)
    # the unforced unit is never reset
    assert out[0, :, 2].tolist() == [float(s + 1) for s in range(t)]


@pytest.mark.parametrize("t", [30, 31, 29])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_window_parallel_equals_sequential_exactly(t, dtype, device):
    torch.manual_seed(0)
    # realistic sizes: BLAS may pick another kernel (other rounding) for fewer than ~8 rows
    dyn = ClippedDendPLRNN(12, num_bases=4, input_dim=2).to(device=device, dtype=dtype)
    teacher = torch.randn(16, t, 12, device=device, dtype=dtype, requires_grad=True)
    inputs = torch.randn(16, t, 2, device=device, dtype=dtype)
    seq = sparse_forcing_rollout(dyn, teacher, 10, inputs=inputs, parallel=False)
    par = sparse_forcing_rollout(dyn, teacher, 10, inputs=inputs, parallel=True)
    assert torch.equal(seq, par)
    g_seq = torch.autograd.grad(seq.square().sum(), teacher)[0]
    g_par = torch.autograd.grad(par.square().sum(), teacher)[0]
    torch.testing.assert_close(g_seq, g_par)


def test_generalized_forcing_reduces_to_sparse_and_free_run(device):
    torch.manual_seed(0)
    dyn = ClippedDendPLRNN(4, num_bases=3).to(device)
    teacher = torch.randn(3, 12, 4, device=device)
    sparse = sparse_forcing_rollout(dyn, teacher, 4, parallel=False)
    gtf = generalized_forcing_rollout(dyn, teacher, 1.0, tau=4)
    torch.testing.assert_close(gtf, sparse)
    free = generalized_forcing_rollout(dyn, teacher, 0.0)
    torch.testing.assert_close(free, dyn.rollout(teacher[:, 0], 12))
    half = generalized_forcing_rollout(dyn, teacher, 0.5)
    z1 = 0.5 * dyn.step(teacher[:, 0]) + 0.5 * teacher[:, 1]
    torch.testing.assert_close(half[:, 1], dyn.step(z1))


def test_adaptive_alpha(device):
    dyn = LinearDynamics(3).to(device)
    with torch.no_grad():
        dyn.A.copy_(torch.diag(torch.tensor([2.0, 0.5, 0.1])))
    states = torch.randn(2, 5, 3, device=device)
    assert jacobian_growth(dyn, states).item() == pytest.approx(2.0)
    ada = AdaptiveForcingAlpha(gamma=0.9, initial=0.0)
    assert ada.update(dyn, states) == pytest.approx(0.5)
    with torch.no_grad():
        dyn.A.mul_(0.1)
    assert ada.update(dyn, states) == pytest.approx(0.45)  # decays, estimate is 0
    assert ada(0) == pytest.approx(0.45)


def test_bad_forcing_inputs_raise(device):
    dyn = ClippedDendPLRNN(4, num_bases=2).to(device)
    teacher = torch.randn(2, 10, 4, device=device)
    with pytest.raises(ValueError, match="tau must be >= 1, got 0"):
        sparse_forcing_rollout(dyn, teacher, 0)
    with pytest.raises(ValueError, match="larger than the window of 10"):
        sparse_forcing_rollout(dyn, teacher, 11)
    with pytest.raises(ValueError, match="forcing_dim K=5 must lie in"):
        sparse_forcing_rollout(dyn, torch.randn(2, 10, 5, device=device), 2)
    with pytest.raises(ValueError, match="needs K == M"):
        sparse_forcing_rollout(dyn, teacher[..., :2], 2, parallel=True)
    with pytest.raises(ValueError, match="alpha must lie in"):
        generalized_forcing_rollout(dyn, teacher, 1.5)
    with pytest.raises(ValueError, match=r"init \(the unforced units\)"):
        sparse_forcing_rollout(dyn, teacher[..., :2], 2, init=torch.zeros(2, 3, device=device))
    with pytest.raises(TypeError, match="must be an int"):
        sparse_forcing_rollout(dyn, teacher, 2.5)


def test_suggest_forcing_interval():
    t = np.arange(4000)
    # sine of period 40: the ACF first drops below 1/e at lag ~8, its first minimum at 20
    x = np.stack([np.sin(2 * np.pi * t / 40), np.cos(2 * np.pi * t / 40)], 1)
    tau = suggest_forcing_interval(x)
    assert 6 <= tau <= 10
    # NaN entries and a constant channel are tolerated
    x2 = np.concatenate([x, np.ones((4000, 1))], 1)
    x2[::7, 0] = np.nan
    assert suggest_forcing_interval(x2) == pytest.approx(tau, abs=1)
    # white noise decorrelates at once
    rng = np.random.default_rng(0)
    assert suggest_forcing_interval(rng.normal(size=(3000, 2))) <= 2
    with pytest.raises(ValueError, match="no channel"):
        suggest_forcing_interval(np.ones((500, 2)))
    with pytest.raises(ValueError, match="too short"):
        suggest_forcing_interval(np.zeros(3))


@pytest.mark.parametrize(("k", "parallel"), [(4, True), (4, False), (2, False)])
@pytest.mark.parametrize("inputs", [False, True])
def test_rollouts_keep_leading_sample_dims(k, parallel, inputs, device):
    """A (S, B, T, K) teacher gives, per leading index, the rollout of that (B, T, K) teacher."""
    torch.manual_seed(0)
    s, b, t, m = 3, 2, 9, 4
    dyn = ClippedDendPLRNN(m, num_bases=2, input_dim=2 if inputs else 0).to(device)
    teacher = torch.randn(s, b, t, k, device=device, dtype=torch.float64)
    dyn = dyn.double()
    u = torch.randn(b, t, 2, device=device, dtype=torch.float64) if inputs else None
    init = torch.randn(b, m - k, device=device, dtype=torch.float64) if k < m else None
    out = sparse_forcing_rollout(dyn, teacher, 4, init=init, inputs=u, parallel=parallel)
    gen = generalized_forcing_rollout(dyn, teacher, 0.4, tau=2, init=init, inputs=u)
    assert out.shape == gen.shape == (s, b, t, m)
    for i in range(s):
        one = sparse_forcing_rollout(dyn, teacher[i], 4, init=init, inputs=u, parallel=parallel)
        torch.testing.assert_close(out[i], one)
        torch.testing.assert_close(
            gen[i], generalized_forcing_rollout(dyn, teacher[i], 0.4, tau=2, init=init, inputs=u)
        )
    if k < m:
        with pytest.raises(ValueError, match=r"init \(the unforced units\) must have shape"):
            sparse_forcing_rollout(dyn, teacher, 4, init=init[:1].expand(3, -1), inputs=u)
    with pytest.raises(ValueError, match="inputs must be"):
        sparse_forcing_rollout(dyn, teacher, 4, inputs=torch.zeros(b + 1, t, 2, device=device))


def test_forcing_argument_limits():
    dyn = Counter(3)
    teacher = torch.zeros(2, 6, 2)
    init = torch.zeros(2, 1)
    # tau == T (forced once, at the start) and a numpy integer tau are valid
    out = sparse_forcing_rollout(dyn, teacher, 6, init=init)
    assert out[0, :, 0].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    torch.testing.assert_close(
        sparse_forcing_rollout(dyn, teacher, np.int64(2), init=init),
        sparse_forcing_rollout(dyn, teacher, 2, init=init),
    )
    with pytest.raises(TypeError, match="must be an int, got True"):
        sparse_forcing_rollout(dyn, teacher, True, init=init)
    with pytest.raises(ValueError, match="forcing_dim K=0"):
        sparse_forcing_rollout(dyn, teacher[..., :0], 2)
    with pytest.raises(ValueError, match=r"teacher must be \(batch, time, K\)"):
        sparse_forcing_rollout(dyn, teacher[0], 2)
    with pytest.raises(ValueError, match="inputs must be"):
        sparse_forcing_rollout(dyn, teacher, 2, init=init, inputs=torch.zeros(6, 1))
    with pytest.raises(ValueError, match=r"init \(the unforced units\) must have shape \(2, 1\)"):
        sparse_forcing_rollout(dyn, teacher, 2, init=torch.zeros(2))


def test_unforced_units_start_from_a_standard_normal_draw():
    teacher = torch.zeros(4, 5, 1, dtype=torch.float64)
    torch.manual_seed(7)
    drawn = sparse_forcing_rollout(Counter(3), teacher, 2)
    torch.manual_seed(7)
    init = torch.randn(4, 2, dtype=torch.float64)
    assert drawn.dtype == torch.float64
    torch.testing.assert_close(drawn, sparse_forcing_rollout(Counter(3), teacher, 2, init=init))
    torch.manual_seed(7)
    gen = generalized_forcing_rollout(Counter(3), teacher, 0.5, tau=2)
    torch.testing.assert_close(
        gen, generalized_forcing_rollout(Counter(3), teacher, 0.5, tau=2, init=init)
    )
