"""The GP priors' guide-side posteriors broadcast over leading sample dims (base contract)."""

import pytest
import torch
from gpytorch.kernels import MaternKernel, RBFKernel

from pyrodyn.priors import DenseGPPrior, FourierGPPrior, PriorContext


def _priors():
    d = 2
    return [
        FourierGPPrior(
            kernel=RBFKernel(batch_shape=torch.Size([d])), latent_dim=d, lengthscale=3.0
        ),
        DenseGPPrior(kernel=MaternKernel(nu=1.5, batch_shape=torch.Size([d])), latent_dim=d),
    ]


@pytest.mark.parametrize("prior", _priors(), ids=lambda p: type(p).__name__)
def test_posterior_is_element_wise_and_broadcasts(prior):
    torch.manual_seed(0)
    ctx = PriorContext(num_sequences=3, num_steps=10, lengths=torch.tensor([10, 8, 6]))
    loc, scale = torch.randn(4, 3, 10, 2), 0.5 + torch.rand(4, 3, 10, 2)
    weights = ctx.step_mask().float()
    q = prior.posterior(loc, scale, ctx, weights)
    site = prior.distribution(ctx).event_shape
    assert q.batch_shape == (4, 3, *site) and q.event_shape == ()
    for s in range(4):
        one = prior.posterior(loc[s], scale[s], ctx, weights)
        torch.testing.assert_close(q.loc[s], one.loc)
        torch.testing.assert_close(q.scale[s], one.scale)
    g = prior.guide_distribution(loc, scale, ctx, weights)
    assert g.batch_shape == (4, 3) and g.event_shape == site
    assert prior.guide_distribution(loc[0], scale[0], ctx, weights).batch_shape == (3,)
