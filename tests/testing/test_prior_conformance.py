import pyro.distributions as dist
import pytest
import torch

from pyrodyn.priors.base import LatentPrior
from pyrodyn.priors.normal import StandardNormalPrior
from pyrodyn.testing.prior import PriorConformance


class TestStandardNormalConformance(PriorConformance):
    def make_prior(self):
        return StandardNormalPrior(3)


class _IgnoresLengths(StandardNormalPrior):
    def distribution(self, ctx):
        shape = (ctx.num_sequences, ctx.num_steps, self.latent_dim)
        return dist.Normal(torch.zeros(shape), 1.0).to_event(2)


class _Sampler(LatentPrior):
    """Its distribution samples twice too wide while log_prob is N(0, 1)."""

    def distribution(self, ctx):
        loc = torch.zeros(ctx.num_sequences, ctx.num_steps, self.latent_dim)
        return _Mismatch(loc, torch.ones_like(loc)).to_event(2)


class _Mismatch(dist.Normal):
    def sample(self, sample_shape=torch.Size()):
        return 2.0 * super().sample(sample_shape)


def test_kit_catches_a_log_prob_that_does_not_match_the_sampler():
    class Broken(PriorConformance):
        def make_prior(self):
            return _Sampler(2)

    with pytest.raises(AssertionError):
        Broken().test_log_prob_matches_samples(torch.device("cpu"))


def test_kit_catches_a_prior_that_scores_padding():
    class Broken(PriorConformance):
        def make_prior(self):
            return _IgnoresLengths(2)

    with pytest.raises(AssertionError):
        Broken().test_padding_is_ignored(torch.device("cpu"))


def test_kit_needs_make_prior():
    with pytest.raises(NotImplementedError, match="make_prior"):
        PriorConformance().make_prior()
