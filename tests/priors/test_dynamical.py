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
