import numpy as np
import pytest
import torch
from scipy import stats

from pyrodyn.likelihoods import Gaussian
from pyrodyn.testing.likelihood import LikelihoodConformance

GRID = torch.linspace(-20.0, 20.0, 8001, dtype=torch.float64)


class TestGaussianLearnedScale(LikelihoodConformance):
    invalid = (float("inf"), float("-inf"))

    def make_likelihood(self):
        return Gaussian(3, scale=torch.tensor([0.5, 1.0, 2.0]))

    def make_params(self, batch_shape):
        return {"loc": torch.randn(*batch_shape, 3)}

    def reference_log_prob(self, lik, params, obs):
        scale = lik.scale.detach().numpy()
        return stats.norm.logpdf(obs, params["loc"], scale)

    def support_grid(self, lik, params):
        return GRID

    def invalid_values(self):
        return list(self.invalid)


class TestGaussianDecodedScale(TestGaussianLearnedScale):
    def make_likelihood(self):
        return Gaussian((2, 3), scale_from_decoder=True)

    def make_params(self, batch_shape):
        return {"loc": torch.randn(*batch_shape, 2, 3), "scale": torch.randn(*batch_shape, 2, 3)}

    def reference_log_prob(self, lik, params, obs):
        scale = np.logaddexp(0.0, params["scale"]) + lik.min_scale
        return stats.norm.logpdf(obs, params["loc"], scale)


class TestGaussianFixedScale(TestGaussianLearnedScale):
    def make_likelihood(self):
        return Gaussian(2, scale=0.7, learn_scale=False)

    def make_params(self, batch_shape):
        return {"loc": torch.randn(*batch_shape, 2)}


def test_scale_options():
    learned = Gaussian(3)
    assert [n for n, _ in learned.named_parameters()] == ["scale_unconstrained"]
    torch.testing.assert_close(learned.scale, torch.ones(3))
    fixed = Gaussian(3, scale=0.5, learn_scale=False)
    assert not list(fixed.parameters())
    torch.testing.assert_close(fixed.scale, torch.full((3,), 0.5))
    decoded = Gaussian(3, scale_from_decoder=True)
    assert decoded.param_shapes == {"loc": (3,), "scale": (3,)}
    assert not list(decoded.parameters())


def test_decoded_scale_head_starts_at_init_scale():
    from pyrodyn.nn.decoders import LinearDecoder

    lik = Gaussian(3, scale=2.0, scale_from_decoder=True)
    params = LinearDecoder(4, lik)(torch.zeros(5, 4))
    torch.testing.assert_close(
        lik.distribution(params).scale, torch.full((5, 3), 2.0), atol=1e-5, rtol=0
    )


def test_learned_scale_gets_gradient():
    lik = Gaussian(2)
    lp = lik.log_prob({"loc": torch.zeros(4, 2)}, torch.full((4, 2), 3.0))
    (-lp.sum()).backward()
    grad = lik.scale_unconstrained.grad
    assert grad is not None and bool((grad < 0).all())  # a larger scale fits the outliers


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), torch.ones(4)])
def test_bad_scale(scale):
    with pytest.raises(ValueError, match="scale"):
        Gaussian(3, scale=scale)


def test_bad_feature_shape():
    with pytest.raises(ValueError, match="feature_shape"):
        Gaussian(0)
