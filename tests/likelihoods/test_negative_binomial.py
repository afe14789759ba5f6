import numpy as np
import pytest
import torch
from scipy import stats

from pyrodyn.likelihoods import NegativeBinomial
from pyrodyn.testing.likelihood import LikelihoodConformance


class TestNegativeBinomial(LikelihoodConformance):
    def make_likelihood(self):
        return NegativeBinomial(3, total_count=torch.tensor([2.0, 5.0, 20.0]))

    def make_params(self, batch_shape):
        return {"log_mean": 0.5 * torch.randn(*batch_shape, 3)}

    def reference_log_prob(self, lik, params, obs):
        r = lik.total_count.detach().numpy()
        mu = np.exp(params["log_mean"])
        return stats.nbinom.logpmf(obs, r, r / (r + mu))

    def support_grid(self, lik, params):
        return torch.arange(0, 300, dtype=torch.float64)

    def invalid_values(self):
        return [-2.0, 0.5]


def test_mean_and_variance():
    lik = NegativeBinomial(1, total_count=4.0, learn_total_count=False)
    d = lik.distribution({"log_mean": torch.tensor([[np.log(3.0)]], dtype=torch.float32)})
    torch.testing.assert_close(d.mean, torch.tensor([[3.0]]))
    torch.testing.assert_close(d.variance, torch.tensor([[3.0 + 9.0 / 4.0]]))
    assert not list(lik.parameters())


def test_bad_total_count():
    with pytest.raises(ValueError, match="total_count"):
        NegativeBinomial(2, total_count=0.0)
