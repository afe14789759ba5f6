"""The likelihood conformance kit must catch broken likelihoods, not only pass good ones."""

import pyro.distributions as dist
import pytest
import torch
from scipy import stats

from pyrodyn.likelihoods import Gaussian, Poisson
from pyrodyn.testing import LikelihoodConformance


class GaussianKit(LikelihoodConformance):
    def make_likelihood(self):
        return Gaussian(2, scale=0.8, learn_scale=False)

    def make_params(self, batch_shape):
        return {"loc": torch.randn(*batch_shape, 2)}

    def reference_log_prob(self, lik, params, obs):
        return stats.norm.logpdf(obs, params["loc"], 0.8)

    def support_grid(self, lik, params):
        return torch.linspace(-15.0, 15.0, 3001, dtype=torch.float64)

    def invalid_values(self):
        return [float("inf")]


class _ShiftedNormal(dist.Normal):
    def log_prob(self, value):
        return super().log_prob(value) + 0.05


class Unnormalised(Gaussian):
    def distribution(self, params):
        d = super().distribution(params)
        return _ShiftedNormal(d.loc, d.scale)


class IgnoresMask(Gaussian):
    def reduce_mask(self, mask, ndim):
        return torch.ones_like(super().reduce_mask(mask, ndim))


class NoValidation(Gaussian):
    def check_support(self, obs):
        return torch.ones_like(obs, dtype=torch.bool)


class WrongParamShape(Gaussian):
    @property
    def param_shapes(self):
        return {"loc": (3,)}


def kit_for(cls):
    class Kit(GaussianKit):
        def make_likelihood(self):
            return cls(2, scale=0.8, learn_scale=False)

    return Kit()


def test_kit_passes_a_good_likelihood():
    kit = GaussianKit()
    for name in dir(kit):
        if name.startswith("test_") and name != "test_device_move":
            getattr(kit, name)()
    kit.test_device_move(torch.device("cpu"))


@pytest.mark.parametrize(
    ("cls", "check"),
    [
        (Unnormalised, "test_normalisation"),
        (Unnormalised, "test_log_prob_matches_reference"),
        (IgnoresMask, "test_masked_entries_contribute_zero"),
        (IgnoresMask, "test_observe_site"),
        (NoValidation, "test_validation_names_modality_and_value"),
        (WrongParamShape, "test_param_shapes"),
    ],
)
def test_kit_catches_broken_likelihoods(cls, check):
    with pytest.raises(AssertionError):
        getattr(kit_for(cls), check)()


def test_kit_catches_a_wrong_reference():
    class WrongReference(GaussianKit):
        def reference_log_prob(self, lik, params, obs):
            return stats.norm.logpdf(obs, params["loc"], 1.0)

    with pytest.raises(AssertionError):
        WrongReference().test_log_prob_matches_reference()


def test_kit_asks_for_a_grid_when_support_is_not_enumerable():
    class NoGrid(LikelihoodConformance):
        def make_likelihood(self):
            return Poisson(2)

        def make_params(self, batch_shape):
            return {"log_rate": torch.zeros(*batch_shape, 2)}

    with pytest.raises(NotImplementedError, match="support_grid"):
        NoGrid().test_normalisation()


def test_lazy_exports():
    import pyrodyn.testing as kits

    assert kits.LikelihoodConformance is LikelihoodConformance
    assert set(kits.__all__) <= set(dir(kits))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = kits.Nope
