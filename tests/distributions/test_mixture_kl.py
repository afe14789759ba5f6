import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal, norm

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


def test_pairwise_ignores_absent_components_whatever_their_parameters():
    """An absent component (weight 0) counts 0 even when its own KL overflows."""
    q_loc, q_scale, h = _case(3, 1.0)
    locs = h.locs.clone()
    locs[:, 2] = 1e200  # KL(q || p_2) = inf, and 0 * inf would be nan
    logits = torch.tensor([[0.0, 0.0, float("-inf")]], dtype=torch.float64)
    absent = DiagNormalMixture(locs, h.scales, logits)
    present = DiagNormalMixture(h.locs[:, :2], h.scales[:, :2], logits[:, :2])
    torch.testing.assert_close(
        kl_pairwise(q_loc, q_scale, absent), kl_pairwise(q_loc, q_scale, present)
    )


def test_mc_default_is_one_reparameterised_draw():
    """Under a fixed seed the default estimate is ``log q(z) - log h(z)`` at ``z = mu + sigma e``
    for one standard normal ``e`` (in q's dtype), for ``kl_mc`` and ``kl_estimate`` alike."""
    q_loc, q_scale, h = _case(5, 1.0)
    torch.manual_seed(9)
    z = (q_loc + q_scale * torch.randn(1, *q_loc.shape, dtype=torch.float64))[0, 0].numpy()
    w = h.weights[0].numpy()
    dens = sum(
        w[k]
        * multivariate_normal(h.locs[0, k].numpy(), np.diag(h.scales[0, k].numpy() ** 2)).pdf(z)
        for k in range(3)
    )
    log_q = norm(q_loc[0].numpy(), q_scale[0].numpy()).logpdf(z).sum()
    for estimate in (
        lambda: kl_mc(q_loc, q_scale, h),
        lambda: kl_estimate(q_loc, q_scale, h, "mc"),
    ):
        torch.manual_seed(9)
        got = estimate()
        assert got.shape == (1,)
        assert got.item() == pytest.approx(log_q - np.log(dens), rel=1e-10)
