import pytest
import torch
from scipy import stats

from pyrodyn.likelihoods import Laplace
from pyrodyn.testing.likelihood import LikelihoodConformance


class TestLaplaceImages(LikelihoodConformance):
    def make_likelihood(self):
        return Laplace((1, 2, 2))

    def make_params(self, batch_shape):
        return {"loc": torch.rand(*batch_shape, 1, 2, 2)}

    def reference_log_prob(self, lik, params, obs):
        return stats.laplace.logpdf(obs, params["loc"], 0.75)

    def support_grid(self, lik, params):
        return torch.linspace(-20.0, 20.0, 8001, dtype=torch.float64)

    def invalid_values(self):
        return [float("inf")]


class TestLaplaceLearnedScale(TestLaplaceImages):
    def make_likelihood(self):
        return Laplace(3, scale=torch.tensor([0.3, 1.0, 2.5]), learn_scale=True)

    def make_params(self, batch_shape):
        return {"loc": torch.randn(*batch_shape, 3)}

    def reference_log_prob(self, lik, params, obs):
        return stats.laplace.logpdf(obs, params["loc"], lik.scale.detach().numpy())


def test_fixed_scale_is_a_buffer():
    lik = Laplace(4)
    assert not list(lik.parameters())
    torch.testing.assert_close(lik.scale, torch.full((4,), 0.75))
    assert [n for n, _ in Laplace(4, learn_scale=True).named_parameters()] == [
        "scale_unconstrained"
    ]


def test_bad_scale():
    with pytest.raises(ValueError, match="scale"):
        Laplace(3, scale=-0.1)
