import numpy as np
import pytest
import torch
from scipy import stats

from pyrodyn.likelihoods import Poisson
from pyrodyn.nn.decoders import LinearDecoder
from pyrodyn.testing.likelihood import LikelihoodConformance


class TestPoisson(LikelihoodConformance):
    def make_likelihood(self):
        lik = Poisson(3)
        with torch.no_grad():
            lik.intercept.copy_(torch.tensor([-1.0, 0.0, 1.5]))
        return lik

    def make_params(self, batch_shape):
        return {"log_rate": 0.5 * torch.randn(*batch_shape, 3)}

    def reference_log_prob(self, lik, params, obs):
        rate = np.exp(params["log_rate"] + lik.intercept.detach().numpy())
        return stats.poisson.logpmf(obs, rate)

    def support_grid(self, lik, params):
        return torch.arange(0, 150, dtype=torch.float64)

    def invalid_values(self):
        return [-1.0, 2.5, float("nan"), float("inf")]


class TestPoissonNoIntercept(TestPoisson):
    def make_likelihood(self):
        return Poisson((2, 2), intercept=False)

    def make_params(self, batch_shape):
        return {"log_rate": torch.randn(*batch_shape, 2, 2)}

    def reference_log_prob(self, lik, params, obs):
        return stats.poisson.logpmf(obs, np.exp(params["log_rate"]))


def test_decoder_head_init_follows_reference():
    lik = Poisson(50)
    dec = LinearDecoder(40, lik)
    w = dec.heads["log_rate"].weight
    assert 0.0005 < float(w.detach().std()) < 0.002
    assert bool((dec.heads["log_rate"].bias == 0).all())


def test_extreme_log_rates_stay_finite():
    lik = Poisson(1, intercept=False)
    log_rate = torch.tensor([[-200.0], [60.0]], requires_grad=True)
    lp = lik.log_prob({"log_rate": log_rate}, torch.tensor([[3.0], [0.0]]))
    assert torch.isfinite(lp).all()
    lp.sum().backward()
    assert torch.isfinite(log_rate.grad).all()
    torch.testing.assert_close(lp[0], torch.tensor(3 * -200.0 - float(np.log(6.0))))


def test_intercept_option():
    assert [n for n, _ in Poisson(3).named_parameters()] == ["intercept"]
    assert not list(Poisson(3, intercept=False).parameters())


def test_validation_message():
    lik = Poisson(2, name="spikes")
    with pytest.raises(ValueError, match=r"'spikes'.*-1\.0.*non-negative integer counts"):
        lik.validate(torch.tensor([[1.0, -1.0]]))


def test_init_from_data_sets_the_intercept_to_the_log_mean_count():
    lik = Poisson(2)
    obs = torch.tensor([[[1.0, 4.0], [3.0, 0.0]], [[2.0, 8.0], [99.0, 0.0]]])
    mask = torch.ones_like(obs, dtype=torch.bool)
    mask[1, 1, 0] = False  # the 99 is missing
    lik.init_from_data(obs, mask)
    torch.testing.assert_close(lik.intercept.detach(), torch.log(torch.tensor([2.0, 3.0])))
    no_intercept = Poisson(2, intercept=False)
    no_intercept.init_from_data(obs, mask)  # nothing to set
    assert no_intercept.intercept is None


def test_support_traits():
    from pyrodyn.likelihoods import Bernoulli, Categorical, Gaussian, Laplace, Ordinal

    assert Gaussian.continuous and Laplace.continuous
    assert not any(c.continuous for c in (Poisson, Ordinal, Categorical, Bernoulli))


def test_init_from_data_with_one_or_no_count_and_small_means():
    """One observed count gives its own log; a mean below 1 is kept; no count floors at 1e-3."""
    lik = Poisson(3)
    obs = torch.tensor([[5.0, 1.0, 7.0], [9.0, 0.0, 7.0]])
    mask = torch.tensor([[True, True, False], [False, True, False]])
    lik.init_from_data(obs, mask)
    want = torch.log(torch.tensor([5.0, 0.5, 1e-3]))
    torch.testing.assert_close(lik.intercept.detach(), want)
