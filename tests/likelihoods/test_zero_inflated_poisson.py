import numpy as np
import pytest
import torch
from scipy import special, stats

from pyrodyn.likelihoods import ZeroInflatedPoisson
from pyrodyn.testing.likelihood import LikelihoodConformance


def zip_logpmf(obs, log_rate, gate_logits):
    g = special.expit(gate_logits)
    lam = np.exp(log_rate)
    return np.where(
        obs == 0,
        np.log(g + (1 - g) * np.exp(-lam)),
        np.log1p(-g) + stats.poisson.logpmf(obs, lam),
    )


class TestZeroInflatedPoisson(LikelihoodConformance):
    def make_likelihood(self):
        lik = ZeroInflatedPoisson(3)
        with torch.no_grad():
            lik.gate_logits.copy_(torch.tensor([-2.0, 0.0, 1.0]))
        return lik

    def make_params(self, batch_shape):
        return {"log_rate": 0.5 + 0.5 * torch.randn(*batch_shape, 3)}

    def reference_log_prob(self, lik, params, obs):
        return zip_logpmf(obs, params["log_rate"], lik.gate_logits.detach().numpy())

    def support_grid(self, lik, params):
        return torch.arange(0, 100, dtype=torch.float64)

    def invalid_values(self):
        return [-1.0, 0.5]


class TestZeroInflatedPoissonDecodedGate(TestZeroInflatedPoisson):
    def make_likelihood(self):
        return ZeroInflatedPoisson(2, gate_from_decoder=True)

    def make_params(self, batch_shape):
        return {
            "log_rate": 0.5 + 0.5 * torch.randn(*batch_shape, 2),
            "gate_logits": torch.randn(*batch_shape, 2),
        }

    def reference_log_prob(self, lik, params, obs):
        return zip_logpmf(obs, params["log_rate"], params["gate_logits"])


def test_gate_init_and_options():
    lik = ZeroInflatedPoisson(2, gate=0.25)
    torch.testing.assert_close(torch.sigmoid(lik.gate_logits.detach()), torch.full((2,), 0.25))
    assert ZeroInflatedPoisson(2, gate_from_decoder=True).param_shapes == {
        "log_rate": (2,),
        "gate_logits": (2,),
    }
    with pytest.raises(ValueError, match="gate"):
        ZeroInflatedPoisson(2, gate=1.0)


def test_mode_prefers_zero_under_strong_inflation():
    lik = ZeroInflatedPoisson(1, gate=0.9)
    assert float(lik.mode({"log_rate": torch.tensor([[np.log(4.5)]])}).detach()) == 0.0
    lik = ZeroInflatedPoisson(1, gate=0.01)
    assert float(lik.mode({"log_rate": torch.tensor([[np.log(4.5)]])}).detach()) == 4.0


def test_mode_tie_goes_to_zero():
    # a negligible gate and rate 1: P(0) = P(1) = e^-1 exactly, and the tie resolves to 0
    lik = ZeroInflatedPoisson(1, gate_from_decoder=True)
    params = {"log_rate": torch.zeros(1, 1), "gate_logits": torch.full((1, 1), -200.0)}
    d = lik.distribution(params)
    assert float(d.log_prob(torch.zeros(1, 1))) == float(d.log_prob(torch.ones(1, 1)))
    assert float(lik.mode(params)) == 0.0


def test_decoded_gate_head_starts_near_the_initial_gate():
    lik = ZeroInflatedPoisson(2, gate_from_decoder=True, gate=0.2)
    heads = {k: torch.nn.Linear(4, 2) for k in ("log_rate", "gate_logits")}
    before = {k: (h.weight.detach().clone(), h.bias.detach().clone()) for k, h in heads.items()}
    for k, h in heads.items():
        lik.init_decoder_head(k, h.weight, h.bias)
    gate = heads["gate_logits"]
    torch.testing.assert_close(gate.weight.detach(), 0.01 * before["gate_logits"][0])
    torch.testing.assert_close(torch.sigmoid(gate.bias.detach()), torch.full((2,), 0.2))
    # the rate head is left to the decoder's own initialisation
    torch.testing.assert_close(heads["log_rate"].weight.detach(), before["log_rate"][0])
    torch.testing.assert_close(heads["log_rate"].bias.detach(), before["log_rate"][1])
    # a head without a bias only has its weights shrunk
    nobias = torch.nn.Linear(4, 2, bias=False)
    w0 = nobias.weight.detach().clone()
    lik.init_decoder_head("gate_logits", nobias.weight, None)
    torch.testing.assert_close(nobias.weight.detach(), 0.01 * w0)
