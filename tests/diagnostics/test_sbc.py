"""Simulation-based calibration, checked on an LGSSM whose exact posterior is known.

The references: ranks and the chi-square test are recomputed by brute force and with
``scipy.stats.chisquare``; the exact posterior of the simulated data comes from the Kalman/RTS
smoother (tested against dense Gaussian algebra in test_kalman.py), the biased ones from
shifting or shrinking its draws.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy import stats

from pyrodyn.diagnostics import sbc
from pyrodyn.diagnostics.kalman import kalman_smoother, posterior_sample
from pyrodyn.diagnostics.ranks import default_bins, rank_statistics, sbc_from_draws
from pyrodyn.likelihoods.gaussian import Gaussian
from pyrodyn.models.svae import SVAE
from pyrodyn.priors.flat import FlatPrior
from pyrodyn.testing.lgssm import lgssm_batch, lgssm_svae

ALPHA = 0.01  # family-wise level over the latent dimensions (Bonferroni)


@pytest.fixture(scope="module")
def lgssm():
    model, ssm = lgssm_svae(latent_dim=2, obs_dims={"a": 2, "b": 1}, seed=3, obs_scale=0.7)
    _, y = ssm.sample(8, 15, torch.Generator().manual_seed(4))
    y[0, 3:5, 1] = float("nan")  # the template's missing entries stay missing
    return model, ssm, lgssm_batch(model, y)


def _concat(model, batch):
    parts = []
    for m in model.modalities:
        x = batch.obs[m].clone()
        x[~batch.mask[m]] = float("nan")
        parts.append(x)
    return torch.cat(parts, -1)


def _kalman_sampler(model, ssm, shift=0.0, shrink=1.0):
    """Exact posterior draws of the simulated data, optionally biased."""

    def draw(simulated, num_draws):
        smoothed = kalman_smoother(ssm, _concat(model, simulated))
        z = posterior_sample(smoothed, num_draws, torch.Generator().manual_seed(11))
        return smoothed.means + shift + shrink * (z - smoothed.means)

    return draw


def test_ranks_and_chi_square_against_brute_force():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(60, 3))
    draws = rng.normal(size=(19, 60, 3))
    ranks = rank_statistics(truth, draws)
    for i in range(60):
        for d in range(3):
            assert ranks[i, d] == sum(draws[k, i, d] < truth[i, d] for k in range(19))
    res = sbc_from_draws(truth, draws, num_bins=4)
    counts, edges = res.histogram()
    assert edges.tolist() == [0, 5, 10, 15, 20]
    for d in range(3):
        want = [
            np.sum((ranks[:, d] >= lo) & (ranks[:, d] < hi)) for lo, hi in itertools.pairwise(edges)
        ]
        assert counts[d].tolist() == want
        ref = stats.chisquare(want, np.full(4, 15.0))
        assert res.chi2[d] == pytest.approx(ref.statistic)
        assert res.p_values[d] == pytest.approx(ref.pvalue)
    # uneven bins (L + 1 = 20 ranks in 3 bins) have expected counts by their widths
    res3 = sbc_from_draws(truth, draws, num_bins=3)
    _, e3 = res3.histogram()
    want = [np.sum((ranks[:, 0] >= lo) & (ranks[:, 0] < hi)) for lo, hi in itertools.pairwise(e3)]
    ref = stats.chisquare(want, 60 * np.diff(e3) / 20)
    assert res3.p_values[0] == pytest.approx(ref.pvalue)
    expected, low, high = res.expected_band(0.99)
    assert expected.tolist() == [15.0] * 4
    assert low[0] == stats.binom.ppf(0.005, 60, 0.25)
    assert high[0] == stats.binom.ppf(0.995, 60, 0.25)


def test_ties_are_broken_uniformly():
    truth = np.zeros((4000, 1))
    draws = np.zeros((3, 4000, 1))  # every draw ties with the truth
    ranks = rank_statistics(truth, draws, generator=np.random.default_rng(0))
    assert set(np.unique(ranks)) == {0, 1, 2, 3}
    assert np.abs(np.bincount(ranks[:, 0]) / 4000 - 0.25).max() < 0.03


def test_default_bins_divide_the_ranks():
    assert default_bins(200, 99) == 20  # 100 rank values, 10 expected per bin
    assert default_bins(40, 99) == 5  # at least 5 expected per bin
    assert default_bins(1000, 100) == 20  # 101 is prime: bins of unequal width


def test_exact_posterior_is_calibrated(lgssm):
    model, ssm, batch = lgssm
    res = sbc(model, batch, 200, 99, posterior=_kalman_sampler(model, ssm))
    assert res.ranks.shape == (200, 2) and res.num_draws == 99 and res.num_bins == 20
    assert res.names == ["prior.z[0]", "prior.z[1]"]
    assert not res.rejected(ALPHA).any(), res.p_values
    # one step per simulation, inside the template row's valid steps
    assert res.steps.shape == (200,) and res.steps.min() >= 0 and res.steps.max() < 15
    assert len(np.unique(res.steps)) > 10
    assert res.ranks.min() >= 0 and res.ranks.max() <= 99


@pytest.mark.parametrize(("shift", "shrink"), [(0.4, 1.0), (0.0, 0.5), (0.0, 1.6)])
def test_biased_posterior_is_rejected(lgssm, shift, shrink):
    model, ssm, batch = lgssm
    res = sbc(model, batch, 200, 99, posterior=_kalman_sampler(model, ssm, shift, shrink))
    assert res.rejected(ALPHA).all(), res.p_values


def test_the_models_own_guide_is_ranked(lgssm, kalman_guided):
    """Through the guide (vectorised draws): exact guide calibrated, shifted guide not."""
    model, _, batch = lgssm
    exact = sbc(kalman_guided(model), batch, 200, 99, seed=1)
    assert not exact.rejected(ALPHA).any(), exact.p_values
    shifted = sbc(kalman_guided(model, shift=0.4), batch, 200, 99, seed=1)
    assert shifted.rejected(ALPHA).all(), shifted.p_values
    summary = shifted.summary(ALPHA)
    assert summary["num_rejected"] == 2 and summary["num_draws"] == 99


def test_same_seed_same_ranks(lgssm, kalman_guided):
    model, _, batch = lgssm
    guided = kalman_guided(model)
    a = sbc(guided, batch, 20, 9, seed=5)
    b = sbc(guided, batch, 20, 9, seed=5)
    np.testing.assert_array_equal(a.ranks, b.ranks)
    assert not np.array_equal(a.ranks, sbc(guided, batch, 20, 9, seed=6).ranks)


def test_sbc_does_not_apply_without_proper_priors(make_model, lg_batch, lgssm):
    with pytest.raises(ValueError, match="does not declare a proper prior on every latent site"):
        sbc(make_model(), lg_batch)
    flat = SVAE({"y": Gaussian(3)}, 2, prior=FlatPrior(2))
    batch = lgssm_batch(flat, torch.zeros(2, 5, 3))
    with pytest.raises(ValueError, match=r"the prior\(s\) \['prior'\] are improper"):
        sbc(flat, batch)


def test_bad_inputs(lgssm):
    model, ssm, batch = lgssm
    with pytest.raises(ValueError, match="num_simulations must be an integer >= 10"):
        sbc(model, batch, num_simulations=5)
    with pytest.raises(ValueError, match=r"num_draws \(L\) must be an integer >= 1"):
        sbc(model, batch, num_draws=0)
    with pytest.raises(ValueError, match=r"num_bins must be an integer in \[2, L \+ 1 = 10\]"):
        sbc(model, batch, 20, 9, num_bins=11)
    with pytest.raises(ValueError, match=r"returned 5 draws of 'prior\.z', expected num_draws = 9"):
        sbc(model, batch, 20, 9, posterior=lambda sim, n: _kalman_sampler(model, ssm)(sim, 5))
    with pytest.raises(ValueError, match="truth must be"):
        rank_statistics(np.zeros((3, 2)), np.zeros((4, 3, 1)))
    with pytest.raises(ValueError, match="alpha must lie in"):
        sbc_from_draws(np.zeros((10, 1)), np.ones((3, 10, 1))).rejected(1.5)
