import pyro
import pyro.distributions as dist
import pytest
import torch

from pyrodyn.dynamics.base import LinearDynamics
from pyrodyn.priors import DynamicalPrior, PriorContext, StandardNormalPrior


def _hand_log_prob(z, a, s0, sigma):
    lp = dist.Normal(0.0, s0).log_prob(z[:, 0]).sum(-1)
    lp = lp + dist.Normal(a * z[:, :-1], sigma).log_prob(z[:, 1:]).sum((-1, -2))
    return lp


def test_markov_log_prob_matches_hand_computation():
    prior = DynamicalPrior(LinearDynamics(2, init_scale=0.7), init_scale=1.5, noise_scale=0.3)
    ctx = PriorContext(num_sequences=4, num_steps=6)
    d = prior.distribution(ctx)
    z = d.rsample()
    assert z.shape == (4, 6, 2) and d.batch_shape == (4,) and d.event_shape == (6, 2)
    assert torch.allclose(d.log_prob(z), _hand_log_prob(z, 0.7, 1.5, 0.3), atol=1e-5)


def test_lengths_exclude_padding():
    prior = DynamicalPrior(LinearDynamics(1), noise_scale=0.5)
    ctx = PriorContext(num_sequences=2, num_steps=5, lengths=torch.tensor([5, 3]))
    z = torch.randn(2, 5, 1)
    lp = prior.distribution(ctx).log_prob(z)
    z2 = z.clone()
    z2[1, 3:] += 100.0  # padding of sequence 1 changes nothing
    assert torch.allclose(prior.distribution(ctx).log_prob(z2), lp)


def test_prior_site_in_trace_and_sampling():
    class Holder(pyro.nn.PyroModule):
        def __init__(self):
            super().__init__()
            self.prior = DynamicalPrior(LinearDynamics(3))

        @pyro.nn.pyro_method
        def model(self):
            with pyro.plate("sequences", 2):
                return self.prior(PriorContext(num_sequences=2, num_steps=4))

    h = Holder()
    tr = pyro.poutine.trace(h.model).get_trace()
    assert "prior.z" in tr.nodes
    assert tr.nodes["prior.z"]["value"].shape == (2, 4, 3)
    assert h.prior.sample(PriorContext(num_sequences=2, num_steps=4), (5,)).shape == (5, 2, 4, 3)


def test_standard_normal_prior_static_and_sequence():
    p = StandardNormalPrior(3)
    d = p.distribution(PriorContext(num_sequences=2, like=torch.zeros(1)))
    assert d.event_shape == (3,)
    d = p.distribution(PriorContext(num_sequences=2, num_steps=4, lengths=torch.tensor([4, 2])))
    z = torch.randn(2, 4, 3)
    manual = dist.Normal(0.0, 1.0).log_prob(z)
    manual[1, 2:] = 0
    assert torch.allclose(d.log_prob(z), manual.sum((-1, -2)))


def test_bad_inputs():
    with pytest.raises(ValueError, match="positive"):
        DynamicalPrior(LinearDynamics(2), noise_scale=0.0)
    with pytest.raises(ValueError, match="needs sequences"):
        DynamicalPrior(LinearDynamics(2)).distribution(PriorContext(num_sequences=2))


def test_continuation_has_the_transition_moments():
    """Two steps after z_n: means A z_n + b and A(A z_n + b) + b + C u, covariances s^2 I and
    s^2 (A A^T + I), computed with numpy from the parameters."""
    import numpy as np

    torch.manual_seed(0)
    dyn = LinearDynamics(2, input_dim=1).double()
    with torch.no_grad():
        dyn.A.copy_(torch.tensor([[0.8, 0.3], [-0.2, 0.9]]))
        dyn.b.copy_(torch.tensor([0.1, -0.4]))
        dyn.C.copy_(torch.tensor([[1.0], [0.5]]))
    prior = DynamicalPrior(dyn, noise_scale=0.3).double()
    inputs = torch.tensor([[[0.0], [0.0], [2.0], [7.0]]], dtype=torch.float64)  # (B=1, T=4, 1)
    ctx = PriorContext(num_sequences=1, num_steps=4, inputs=inputs)
    prefix = torch.tensor([[[9.0, 9.0], [1.0, -1.0]]], dtype=torch.float64)  # n = 2
    with torch.no_grad():
        z = prior.continuation(prefix.expand(200_000, 1, 2, 2), ctx)
    assert z.shape == (200_000, 1, 2, 2)
    a, b, c = (p.detach().numpy() for p in (dyn.A, dyn.b, dyn.C))
    m1 = a @ np.array([1.0, -1.0]) + b + c @ np.array([0.0])  # u_2 drives z_3 (0-based t - 1)
    m2 = a @ m1 + b + c @ np.array([2.0])
    cov2 = 0.09 * (a @ a.T + np.eye(2))
    x = z[:, 0].numpy()
    np.testing.assert_allclose(x[:, 0].mean(0), m1, atol=0.005)
    np.testing.assert_allclose(x[:, 1].mean(0), m2, atol=0.005)
    np.testing.assert_allclose(np.cov(x[:, 0].T), 0.09 * np.eye(2), atol=0.002)
    np.testing.assert_allclose(np.cov(x[:, 1].T), cov2, atol=0.003)
    with pytest.raises(ValueError, match="1 <= n < T prefix steps, got n = 4 and T = 4"):
        prior.continuation(torch.zeros(1, 4, 2, dtype=torch.float64), ctx)
