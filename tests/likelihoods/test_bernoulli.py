import torch
from scipy import special, stats

from pyrodyn.likelihoods import Bernoulli
from pyrodyn.testing.likelihood import LikelihoodConformance


class TestBernoulli(LikelihoodConformance):
    def make_likelihood(self):
        return Bernoulli((2, 3))

    def make_params(self, batch_shape):
        return {"logits": 2 * torch.randn(*batch_shape, 2, 3)}

    def reference_log_prob(self, lik, params, obs):
        return stats.bernoulli.logpmf(obs, special.expit(params["logits"]))

    def invalid_values(self):
        return [0.5, 2.0, -1.0]


def test_mode_breaks_ties_to_zero():
    lik = Bernoulli(3)
    mode = lik.mode({"logits": torch.tensor([[-1.0, 0.0, 1.0]])})
    torch.testing.assert_close(mode, torch.tensor([[0.0, 0.0, 1.0]]))
