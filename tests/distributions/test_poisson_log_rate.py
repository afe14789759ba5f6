import numpy as np
import pytest
import torch
from scipy import stats

from pyrodyn.distributions import PoissonLogRate


def test_matches_scipy():
    log_rate = torch.randn(5, 3, dtype=torch.float64)
    k = torch.poisson(log_rate.exp())
    got = PoissonLogRate(log_rate).log_prob(k)
    ref = stats.poisson.logpmf(k.numpy(), np.exp(log_rate.numpy()))
    torch.testing.assert_close(got, torch.as_tensor(ref), rtol=1e-12, atol=1e-12)


def test_underflowing_rate_stays_finite():
    log_rate = torch.tensor([-150.0], requires_grad=True)
    lp = PoissonLogRate(log_rate).log_prob(torch.tensor([2.0]))
    torch.testing.assert_close(lp.detach(), torch.tensor([-300.0 - float(np.log(2.0))]))
    lp.sum().backward()
    torch.testing.assert_close(log_rate.grad, torch.tensor([2.0]))
    # the rate parameterisation gives -inf here
    assert torch.distributions.Poisson(log_rate.detach().exp()).log_prob(torch.tensor([2.0])) == (
        -float("inf")
    )


def test_expand_and_moments():
    d = PoissonLogRate(torch.tensor([0.0, float(np.log(3.0))]))
    e = d.expand((4, 2))
    assert e.batch_shape == (4, 2)
    torch.testing.assert_close(e.mean[0], torch.tensor([1.0, 3.0]))
    assert e.log_prob(torch.ones(4, 2)).shape == (4, 2)
    assert e.sample().shape == (4, 2)


def test_support_validation():
    d = PoissonLogRate(torch.zeros(2), validate_args=True)
    with pytest.raises(ValueError, match="support"):
        d.log_prob(torch.tensor([0.5, 1.0]))
