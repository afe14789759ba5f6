import pyro.distributions as dist
import pytest
import torch

from pyrodyn.likelihoods import Gaussian
from pyrodyn.models.svae import SVAE
from pyrodyn.nn.fusion import MMVM
from pyrodyn.priors import MMVMMixturePrior, PriorContext, StandardNormalPrior
from pyrodyn.priors.base import SEQUENCE, STATIC, check_slot


def _ctx(lead=(3,), dim=2, lengths=None):
    g = torch.Generator().manual_seed(0)
    post = {
        m: dist.Normal(
            torch.randn(*lead, dim, generator=g), 0.5 + torch.rand(*lead, dim, generator=g)
        )
        for m in "abc"
    }
    present = {m: torch.ones(lead, dtype=torch.bool) for m in "abc"}
    present["c"][0] = False
    return PriorContext(
        num_sequences=lead[0],
        num_steps=lead[1] if len(lead) > 1 else None,
        lengths=lengths,
        posteriors=post,
        present=present,
    )


def test_mixture_equals_the_mmvm_fusions_prior():
    ctx = _ctx()
    prior = MMVMMixturePrior(2, alpha=0.3, estimator="lse")
    h = prior.step_distribution(ctx)
    ref = MMVM(alpha=0.3, estimator="lse").prior_mixture(ctx.posteriors, ctx.present)
    z = torch.randn(5, 3, 2)
    torch.testing.assert_close(h.log_prob(z), ref.log_prob(z))
    assert h.kl_estimator == "lse"
    # component weights: the missing modality is no component; N(0, I) has weight alpha
    torch.testing.assert_close(h.weights[0], torch.tensor([0.35, 0.35, 0.0, 0.3]))


def test_scheduled_alpha_overrides_and_is_validated():
    ctx = _ctx()
    prior = MMVMMixturePrior(2, alpha=0.0)
    h = prior.step_distribution(ctx, alpha=1.0, unknown_option=3)
    z = torch.randn(3, 2)
    torch.testing.assert_close(h.log_prob(z), dist.Normal(0.0, 1.0).log_prob(z).sum(-1))
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        prior.step_distribution(ctx, alpha=1.5)
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        MMVMMixturePrior(2, alpha=-0.1)
    with pytest.raises(ValueError, match="unknown MMVM estimator 'exact'"):
        MMVMMixturePrior(2, estimator="exact")


def test_static_and_sequence_distributions():
    prior = MMVMMixturePrior(2)
    static = prior.distribution(_ctx())
    assert static.batch_shape == (3,) and static.event_shape == (2,)
    ctx = _ctx(lead=(3, 4), lengths=torch.tensor([4, 2, 3]))
    seq = prior.distribution(ctx)
    assert seq.batch_shape == (3,) and seq.event_shape == (4, 2)
    z = torch.randn(3, 4, 2)
    per_step = prior.step_distribution(ctx).log_prob(z)
    want = (per_step * ctx.step_mask()).sum(-1)  # steps beyond each length are excluded
    torch.testing.assert_close(seq.log_prob(z), want)


def test_context_without_posteriors_or_of_another_size_raises():
    prior = MMVMMixturePrior(2)
    with pytest.raises(ValueError, match="needs the unimodal posteriors"):
        prior.distribution(PriorContext(num_sequences=3))
    with pytest.raises(ValueError, match="latent_dim 3, the posteriors in its context"):
        MMVMMixturePrior(3).distribution(_ctx())


def test_slots_without_posteriors_refuse_it():
    prior = MMVMMixturePrior(2)
    assert prior.slot_shapes == {STATIC, SEQUENCE} and prior.needs_posteriors
    assert check_slot(prior, "prior", STATIC, 2, "M", posteriors=True) is prior
    with pytest.raises(ValueError, match="M slot 'prior' provides no unimodal posteriors"):
        check_slot(prior, "prior", STATIC, 2, "M")
    # a prior that needs nothing fits either way
    assert check_slot(StandardNormalPrior(2), "prior", SEQUENCE, 2, "M", posteriors=True)


def test_svae_refuses_the_mixture_prior_naming_its_slot():
    with pytest.raises(ValueError, match="SVAE slot 'prior' provides no unimodal posteriors"):
        SVAE({"g": Gaussian(2)}, latent_dim=2, prior=MMVMMixturePrior(2))
