"""PSIS leave-future-out CV, checked against the exact Kalman predictive of an LGSSM.

The reference is ``log p(y_{i+1:i+h} | y_{1:i})`` from the Kalman filter's one-step
log-likelihoods (tested against dense Gaussian algebra in test_kalman.py). The proposal is the
model's own guide made exact (the ``kalman_guided`` fixture), so the test checks LFO's
arithmetic: the prefix cut, the hidden future, the ratios (with the steps observed since the
last refit), the Pareto-smoothed weights and the refit rule.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pyrodyn.diagnostics import lfo
from pyrodyn.diagnostics.kalman import kalman_filter
from pyrodyn.diagnostics.lfo import default_origins
from pyrodyn.diagnostics.lfo_ratios import continuation_priors
from pyrodyn.likelihoods.gaussian import Gaussian
from pyrodyn.models.svae import SVAE
from pyrodyn.priors.ou import OrnsteinUhlenbeckPrior
from pyrodyn.testing.lgssm import lgssm_batch, lgssm_svae

T = 40


@pytest.fixture(scope="module")
def lgssm():
    model, ssm = lgssm_svae(latent_dim=2, obs_dims=3, seed=0, obs_scale=1.0)
    _, y = ssm.sample(2, T, torch.Generator().manual_seed(1))
    step_log_lik = kalman_filter(ssm, y).step_log_lik.numpy()  # (B, T): log p(y_t | y_<t)
    return model, lgssm_batch(model, y), step_log_lik


def _exact(step_log_lik, origins, h):
    return np.stack([step_log_lik[:, i : i + h].sum(-1) for i in origins], -1)


@pytest.mark.parametrize("future_latents", ["prior", "guide"])
def test_one_step_elpd_matches_the_kalman_predictive(lgssm, kalman_guided, future_latents):
    model, batch, step_log_lik = lgssm
    res = lfo(kalman_guided(model), batch, num_draws=1000, future_latents=future_latents, seed=1)
    assert res.future_latents == future_latents
    exact = _exact(step_log_lik, res.origins, 1)
    assert res.origins.tolist() == list(range(20, 40))
    assert res.elpd.shape == res.khat.shape == res.refit.shape == (2, 20)
    assert abs(res.total - exact.sum()) < 0.01 * abs(exact.sum()), (res.total, exact.sum())
    np.testing.assert_allclose(res.elpd, exact, atol=0.3)
    # the first origin is a fit; origins reuse it until k-hat exceeds 0.7, then refit
    assert res.refit[:, 0].all() and 0 < res.refit.sum() < res.refit.size
    reused = ~res.refit
    assert (res.anchor[reused] < res.origins[None].repeat(2, 0)[reused]).all()
    assert (res.khat[reused] <= 0.7).all()
    # a refit is the exact posterior of its own prefix: constant ratios (k-hat inf)
    assert np.isinf(res.khat[res.refit]).all()


def test_h_step_elpd_matches_the_kalman_predictive(lgssm, kalman_guided):
    model, batch, step_log_lik = lgssm
    origins = [20, 24, 28, 32, 36]
    res = lfo(kalman_guided(model), batch, horizon=3, origins=origins, num_draws=2000)
    exact = _exact(step_log_lik, res.origins, 3)
    assert res.horizon == 3 and res.origins.tolist() == [20, 24, 28, 32, 36]
    assert abs(res.total - exact.sum()) < 0.01 * abs(exact.sum()), (res.total, exact.sum())


def test_threshold_decides_refits(lgssm, kalman_guided):
    model, batch, step_log_lik = lgssm
    guided = kalman_guided(model)
    never = lfo(guided, batch, origins=range(20, 30), num_draws=200, threshold=np.inf)
    assert never.refit.sum() == 2 and (never.anchor == 20).all()
    # reusing one fit for more and more new steps: the weights degenerate
    assert never.khat[:, -1].min() > never.khat[:, 1].max()
    always = lfo(guided, batch, origins=range(20, 30), num_draws=200, threshold=-np.inf)
    assert always.refit.all() and np.isinf(always.khat).all()
    exact = _exact(step_log_lik, always.origins, 1)
    assert abs(always.total - exact.sum()) < 0.01 * abs(exact.sum())
    summary = always.summary()
    assert summary["num_refits"] == 20 and summary["elpd"] == pytest.approx(always.total)


def test_the_untrained_guide_runs_and_is_flagged(lgssm):
    model, batch, _ = lgssm
    res = lfo(model, batch, origins=[30, 35], num_draws=50)
    assert np.isfinite(res.elpd).all()
    assert res.num_unreliable > 0  # a guide that knows nothing is a poor proposal


def test_default_origins():
    assert default_origins(40, 1).tolist() == list(range(20, 40))
    assert default_origins(200, 1).tolist()[:3] == [100, 105, 110]
    assert default_origins(200, 1)[-1] == 199 and len(default_origins(200, 1)) == 20
    assert default_origins(10, 3).tolist() == [5, 6, 7]  # fewer than 20 possible


def test_bad_inputs(lgssm):
    model, batch, _ = lgssm
    with pytest.raises(ValueError, match=r"horizon \(h\) must be an integer >= 1, got 0"):
        lfo(model, batch, horizon=0)
    with pytest.raises(ValueError, match="num_draws must be an integer >= 25 for PSIS"):
        lfo(model, batch, num_draws=10)
    with pytest.raises(ValueError, match=r"1 <= i <= T - h = 38 \(T = 40 valid steps, h = 2\)"):
        lfo(model, batch, horizon=2, origins=[10, 39])
    with pytest.raises(ValueError, match=r"got \[0\]"):
        lfo(model, batch, origins=[0, 5])
    with pytest.raises(ValueError, match="leave no origin for h = 40"):
        lfo(model, batch, horizon=40)
    with pytest.raises(TypeError, match="LFO needs a GenerativeModel"):
        lfo(object(), batch)
    with pytest.raises(ValueError, match="future_latents must be 'auto', 'prior' or 'guide'"):
        lfo(model, batch, future_latents="posterior")


def test_prior_continuation_needs_priors_that_have_one(lgssm):
    model, batch, _ = lgssm
    assert lfo(model, batch, origins=[30], num_draws=25).future_latents == "prior"
    ou = SVAE({"y": Gaussian(3)}, 2, prior=OrnsteinUhlenbeckPrior(2)).double()
    assert "has no prior with a continuation" in continuation_priors(ou, batch)
    with pytest.raises(ValueError, match="future_latents='prior' does not apply: the latent site"):
        lfo(ou, batch, origins=[30], num_draws=25, future_latents="prior")
    assert lfo(ou, batch, origins=[30], num_draws=25).future_latents == "guide"
