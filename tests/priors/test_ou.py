import pyro.distributions as dist
import pytest
import torch

from pyrodyn.priors.base import LatentPrior, PriorContext
from pyrodyn.priors.ou import OrnsteinUhlenbeckPrior
from pyrodyn.testing.prior import PriorConformance


class TestOUConformance(PriorConformance):
    def make_prior(self):
        return OrnsteinUhlenbeckPrior(2, timescale=3.0, scale=1.5)


def _ctx(times):
    b, t = times.shape
    return PriorContext(num_sequences=b, num_steps=t, times=times)


def test_matches_matern12_gaussian_process():
    # the OU process at arbitrary stamps is a GP with covariance s^2 exp(-|t - t'| / tau)
    prior = OrnsteinUhlenbeckPrior(1, timescale=2.0, scale=1.3).double()
    times = torch.tensor([[0.0, 0.5, 1.7, 2.0, 4.5]], dtype=torch.float64)
    ctx = _ctx(times)
    z = torch.randn(7, 1, 5, 1, dtype=torch.float64)
    t = times[0]
    cov = 1.3**2 * torch.exp(-(t[:, None] - t[None, :]).abs() / 2.0)
    ref = dist.MultivariateNormal(torch.zeros(5, dtype=torch.float64), cov).log_prob(z[..., 0])
    torch.testing.assert_close(prior.log_prob(z, ctx), ref)


def test_regular_grid_is_ar1_with_stationary_variance():
    prior = OrnsteinUhlenbeckPrior(3, timescale=4.0, scale=2.0)
    ctx = PriorContext(num_sequences=2000, num_steps=30)
    phi = prior.coefficients(ctx).detach()
    torch.testing.assert_close(phi, torch.full_like(phi, torch.exp(torch.tensor(-0.25)).item()))
    z = prior.sample(ctx).detach()
    assert z.shape == (2000, 30, 3)
    assert z[:, -1].var().item() == pytest.approx(4.0, rel=0.1)
    lag1 = (z[:, 10] * z[:, 11]).mean().item() / 4.0
    assert lag1 == pytest.approx(float(phi[0, 0, 0]), abs=0.05)


def test_bad_arguments():
    with pytest.raises(ValueError, match="must be positive"):
        OrnsteinUhlenbeckPrior(2, timescale=0.0)
    with pytest.raises(ValueError, match="latent_dim must be >= 1"):
        OrnsteinUhlenbeckPrior(0)
    with pytest.raises(ValueError, match="needs sequences"):
        OrnsteinUhlenbeckPrior(2).distribution(PriorContext(num_sequences=2))
    assert isinstance(OrnsteinUhlenbeckPrior(1), LatentPrior)
