import numpy as np
import pyro
import pytest
import torch
from scipy import special

from pyrodyn.likelihoods import Ordinal
from pyrodyn.nn.decoders import LinearDecoder
from pyrodyn.testing.likelihood import LikelihoodConformance


def ordinal_logpmf(obs, eta, thresholds):
    c = thresholds.shape[-1] + 1
    cdf = special.expit(thresholds - eta[..., None])
    cdf = np.concatenate([np.zeros_like(cdf[..., :1]), cdf, np.ones_like(cdf[..., :1])], -1)
    k = obs.astype(np.int64)
    assert ((k >= 1) & (k <= c)).all()
    upper = np.take_along_axis(cdf, k[..., None], -1)[..., 0]
    lower = np.take_along_axis(cdf, k[..., None] - 1, -1)[..., 0]
    return np.log(upper - lower)


class TestOrdinal(LikelihoodConformance):
    def make_likelihood(self):
        lik = Ordinal(3, 5)
        with torch.no_grad():  # unequal spacings per channel
            lik.thresholds_unconstrained.add_(0.3 * torch.randn(3, 4))
        return lik

    def make_params(self, batch_shape):
        return {"eta": torch.randn(*batch_shape, 3)}

    def reference_log_prob(self, lik, params, obs):
        return ordinal_logpmf(obs, params["eta"], lik.thresholds.detach().numpy())

    def invalid_values(self):
        return [0.0, 6.0, 2.5, -1.0]


class TestOrdinalBinary(TestOrdinal):
    def make_likelihood(self):
        return Ordinal(2, 2)

    def make_params(self, batch_shape):
        return {"eta": torch.randn(*batch_shape, 2)}


def test_threshold_init_gives_uniform_categories():
    lik = Ordinal(2, 7)
    probs = lik.distribution({"eta": torch.zeros(1, 2)}).probs
    torch.testing.assert_close(probs, torch.full((1, 2, 7), 1 / 7))
    assert lik.placeholder == 1.0
    assert [n for n, _ in lik.named_parameters()] == ["thresholds_unconstrained"]


def test_thresholds_are_ordered_and_tiny_gaps_are_exact():
    lik = Ordinal(1, 4)
    with torch.no_grad():
        lik.thresholds_unconstrained.copy_(torch.tensor([[2.0, -30.0, 5.0]]))
    th = lik.thresholds.detach()
    # theta_k = theta_{k-1} + exp(raw_k); in float32 theta_2 == theta_1 (gap e^-30)
    torch.testing.assert_close(th, torch.tensor([[2.0, 2.0, 2.0 + float(np.exp(5.0))]]))
    eta = torch.tensor([[1.0]], requires_grad=True)
    lp = lik.log_prob({"eta": eta}, torch.tensor([[2.0]]))
    # P(o = 2) = sigmoid'(1) * e^-30 to first order, not 0
    s = special.expit(1.0)
    torch.testing.assert_close(
        lp.detach(), torch.tensor([np.log(s * (1 - s)) - 30.0], dtype=torch.float32)
    )
    lp.sum().backward()
    assert torch.isfinite(eta.grad).all()
    assert torch.isfinite(lik.thresholds_unconstrained.grad).all()


def test_improbable_category_keeps_gradient():
    lik = Ordinal(1, 7)
    eta = torch.tensor([[40.0]], requires_grad=True)  # code 1 is extremely improbable
    lp = lik.log_prob({"eta": eta}, torch.tensor([[1.0]]))
    assert torch.isfinite(lp).all()
    assert float(lp.detach()) < -30.0
    lp.sum().backward()
    assert float(eta.grad) < -0.99  # d/deta logsigmoid(theta_1 - eta) -> -1
    assert torch.isfinite(lik.thresholds_unconstrained.grad).all()


def test_default_prediction_is_mode():
    lik = Ordinal(1, 5)
    out = lik.predict({"eta": torch.tensor([[-10.0], [0.0], [10.0]])})
    torch.testing.assert_close(out, torch.tensor([[1.0], [3.0], [5.0]]))


def test_mode_of_nan_eta_is_nan_and_infinite_eta_is_an_end_code():
    lik = Ordinal(3, 5)
    eta = torch.tensor([[float("nan"), float("inf"), -float("inf")]])
    with pyro.validation_enabled(False):  # as GenerativeModel.predict runs it
        out = lik.predict({"eta": eta})  # the default prediction: the mode
    assert torch.isnan(out[0, 0])
    torch.testing.assert_close(out[0, 1:], torch.tensor([5.0, 1.0]))


def test_decoder_bias_starts_at_zero():
    dec = LinearDecoder(3, Ordinal(4, 7))
    assert bool((dec.heads["eta"].bias == 0).all())


def test_integer_observations_and_masked_zeros():
    lik = Ordinal(2, 3)
    params = {"eta": torch.zeros(1, 2)}
    lp_int = lik.log_prob(params, torch.tensor([[1, 3]]))
    lp_float = lik.log_prob(params, torch.tensor([[1.0, 3.0]]))
    torch.testing.assert_close(lp_int, lp_float)
    # the data layer fills missing entries with 0, outside 1..C: masked, it is replaced by 1
    lp = lik.log_prob(params, torch.tensor([[1.0, 0.0]]), torch.tensor([[True, False]]))
    torch.testing.assert_close(lp, torch.log(torch.tensor([1 / 3])))


def test_validation_message():
    lik = Ordinal(2, 7, name="ratings")
    with pytest.raises(ValueError, match=r"'ratings'.*8\.0.*integer codes 1\.\.7"):
        lik.validate(torch.tensor([[1.0, 8.0]]))


def test_bad_num_categories():
    with pytest.raises(ValueError, match="num_categories"):
        Ordinal(2, 1)
