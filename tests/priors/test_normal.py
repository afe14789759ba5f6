import torch

from pyrodyn.priors import FactorisesOverSteps, PriorContext, StandardNormalPrior


def test_step_factors_fold_to_the_site_distribution():
    prior = StandardNormalPrior(3)
    assert isinstance(prior, FactorisesOverSteps)
    ctx = PriorContext(num_sequences=2, num_steps=5, lengths=torch.tensor([5, 3]))
    steps = prior.step_distribution(ctx)
    assert steps.batch_shape == (2, 5) and steps.event_shape == (3,)
    site = prior.distribution(ctx)
    assert site.batch_shape == (2,) and site.event_shape == (5, 3)
    z = torch.randn(4, 2, 5, 3)
    want = (steps.log_prob(z) * ctx.step_mask()).sum(-1)
    torch.testing.assert_close(site.log_prob(z), want)


def test_static_slot():
    prior = StandardNormalPrior(3)
    ctx = PriorContext(num_sequences=2)
    z = torch.randn(2, 3)
    torch.testing.assert_close(
        prior.distribution(ctx).log_prob(z), prior.step_distribution(ctx).log_prob(z)
    )
    assert prior.distribution(ctx).batch_shape == (2,)
