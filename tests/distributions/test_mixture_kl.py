import math

import pytest
import torch

from pyrodyn.distributions.diag_normal_mixture import DiagNormalMixture
from pyrodyn.distributions.mixture_kl import kl_estimate, kl_lse, kl_mc, kl_pairwise


def _case(seed, spread):
    g = torch.Generator().manual_seed(seed)
    locs = spread * torch.randn(1, 3, 4, generator=g, dtype=torch.float64)
    scales = 0.3 + torch.rand(1, 3, 4, generator=g, dtype=torch.float64)
    h = DiagNormalMixture(locs, scales, torch.zeros(1, 3, dtype=torch.float64))
    return locs[:, 0], scales[:, 0], h


@pytest.mark.parametrize(("seed", "spread"), [(0, 0.5), (1, 3.0), (2, 1.0)])
def test_ordering_mc_le_lse_le_pairwise(seed, spread):
    q_loc, q_scale, h = _case(seed, spread)
    torch.manual_seed(seed)
    pw = kl_pairwise(q_loc, q_scale, h)
    lse = kl_lse(q_loc, q_scale, h)
    z = q_loc + q_scale * torch.randn(20000, 1, 4, dtype=torch.float64)
    mc = kl_mc(q_loc, q_scale, h, value=z)
    terms = torch.distributions.Normal(q_loc, q_scale).log_prob(z).sum(-1) - h.log_prob(z)
    se = terms.std() / math.sqrt(z.shape[0])
    assert lse.item() <= pw.item() + 1e-12
    assert mc.item() <= lse.item() + 3 * se.item()
    assert lse.item() <= math.log(3) + 1e-12


def test_mc_is_unbiased_for_a_single_gaussian_component():
    q_loc, q_scale, h = _case(0, 1.0)
    one = DiagNormalMixture(
        h.locs[:, 1:2], h.scales[:, 1:2], torch.zeros(1, 1, dtype=torch.float64)
    )
    exact = kl_pairwise(q_loc, q_scale, one)
    torch.testing.assert_close(kl_lse(q_loc, q_scale, one), exact)
    torch.manual_seed(0)
    mc = kl_mc(q_loc, q_scale, one, num_samples=50000)
    assert mc.item() == pytest.approx(exact.item(), rel=0.02)


def test_unknown_estimator_and_bad_samples_raise():
    q_loc, q_scale, h = _case(0, 1.0)
    with pytest.raises(ValueError, match="unknown KL estimator 'exact'"):
        kl_estimate(q_loc, q_scale, h, "exact")
    with pytest.raises(ValueError, match="num_samples"):
        kl_mc(q_loc, q_scale, h, num_samples=0)


@pytest.mark.parametrize("estimator", ["pairwise", "lse", "mc"])
def test_posteriors_with_leading_sample_dims_broadcast_against_the_mixture(estimator):
    q_loc, q_scale, h = _case(0, 1.0)  # q (1, D), mixture batch (1,)
    g = torch.Generator().manual_seed(4)
    locs = q_loc + 0.3 * torch.randn(5, *q_loc.shape, generator=g, dtype=torch.float64)
    value = locs + q_scale * torch.randn(locs.shape, generator=g, dtype=torch.float64)
    kl = kl_estimate(locs, q_scale, h, estimator, value=value)
    assert kl.shape == (5, 1)
    for s in range(5):
        one = kl_estimate(locs[s], q_scale, h, estimator, value=value[s])
        torch.testing.assert_close(kl[s], one)
