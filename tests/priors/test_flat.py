"""The flat prior: zero log density, closed-form KL(Normal || flat) = -entropy, masks, shapes."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import pytest
import torch
from torch.distributions import kl_divergence

from pyrodyn.objectives.elbo import MeanFieldELBO
from pyrodyn.priors.base import SEQUENCE, STATIC, PriorContext, check_slot
from pyrodyn.priors.flat import FlatDensity, FlatPrior


def test_log_prob_is_zero_and_broadcasts():
    d = FlatDensity((2, 3), like=torch.zeros((), dtype=torch.float64))
    assert d.log_prob(torch.randn(2, 3)).shape == (2, 3)
    assert d.log_prob(torch.randn(5, 2, 3)).abs().sum() == 0
    assert d.expand((4, 2, 3)).batch_shape == (4, 2, 3)
    x = d.expand((4, 2, 3)).sample(torch.Size([6]))
    assert x.shape == (6, 4, 2, 3) and x.dtype == torch.float64


def test_kl_of_a_normal_is_minus_its_entropy():
    q = dist.Normal(torch.randn(2, 5, 3), torch.rand(2, 5, 3) + 0.1)
    kl = kl_divergence(q, FlatDensity((2, 5, 3)))
    torch.testing.assert_close(kl, -q.entropy())
    # folded and masked like the guide's and the prior's sites
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])[..., None]
    prior = FlatPrior(3).distribution(PriorContext(2, 5, lengths=torch.tensor([5, 3])))
    folded = kl_divergence(q.mask(mask).to_event(2), prior)
    torch.testing.assert_close(folded, -(q.entropy() * mask).sum((-2, -1)))
    # a point mass has no entropy term
    assert kl_divergence(dist.Delta(q.loc, event_dim=2), prior).abs().sum() == 0


def test_prior_serves_both_slots():
    prior = FlatPrior(3)
    assert check_slot(prior, "prior", SEQUENCE, 3) is prior
    assert check_slot(prior, "prior", STATIC, 3) is prior
    seq = prior.distribution(PriorContext(4, 7))
    assert seq.batch_shape == (4,) and seq.event_shape == (7, 3)
    static = prior.distribution(PriorContext(4))
    assert static.batch_shape == (4,) and static.event_shape == (3,)
    with pytest.raises(ValueError, match="latent_dim must be >= 1"):
        FlatPrior(0)


def test_mean_field_elbo_term_is_the_analytic_entropy():
    loc, scale = torch.randn(2, 4, 3), torch.rand(2, 4, 3) + 0.2
    prior = FlatPrior(3)
    ctx = PriorContext(2, 4)

    def model():
        with pyro.plate("sequences", 2, dim=-1):
            pyro.sample("latent", prior.distribution(ctx))

    def guide():
        with pyro.plate("sequences", 2, dim=-1):
            pyro.sample("latent", prior.guide_distribution(loc, scale, ctx))

    out = MeanFieldELBO().loss_and_terms(model, guide)
    want = -dist.Normal(loc, scale).entropy().sum()
    torch.testing.assert_close(out.loss.detach(), want)
    torch.testing.assert_close(out.terms["kl.latent"], want)
