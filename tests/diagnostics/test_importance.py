import math

import numpy as np
import pytest
import torch

from pyrodyn.diagnostics.importance import (
    importance_diagnostics,
    importance_from_draws,
    iwae_bound,
)
from pyrodyn.diagnostics.sampling import draw_posterior
from pyrodyn.testing.linear_gaussian import LinearGaussianModel


def test_khat_small_for_slightly_wide_guide(make_model, lg_batch):
    diag = importance_diagnostics(make_model(guide_scale=1.1), lg_batch, 400)
    assert np.all(diag.khat < 0.5), diag.khat
    assert len(diag.flagged()) == 0
    assert np.all(diag.ess > 0.5 * 400)


def test_exact_guide_has_constant_weights_and_infinite_khat(make_model, lg_batch):
    model = make_model()
    diag = importance_diagnostics(model, lg_batch, 100)
    assert np.all(np.isinf(diag.khat))
    assert diag.constant.all()
    assert len(diag.flagged()) == 0  # exact, not unreliable
    exact = model.log_marginal(lg_batch).numpy()
    np.testing.assert_allclose(diag.iwae, exact, atol=1e-8)
    np.testing.assert_allclose(diag.elbo, exact, atol=1e-8)


def test_khat_large_for_shifted_guide(make_model, lg_batch):
    diag = importance_diagnostics(make_model(guide_shift=1.0), lg_batch, 400)
    assert np.all(diag.khat > 0.7), diag.khat
    assert len(diag.flagged()) == lg_batch.num_sequences
    summary = diag.summary()
    assert summary["num_flagged"] == lg_batch.num_sequences
    assert all(row["flagged"] for row in summary["per_trial"])


def test_khat_large_for_too_narrow_guide(make_model, lg_batch):
    # weights p/q of a guide c times too narrow have a Pareto tail with k = 1 - c^2 = 0.96
    diag = importance_diagnostics(make_model(guide_scale=0.2), lg_batch, 400)
    assert np.median(diag.khat) > 0.8, diag.khat
    assert np.mean(diag.khat > 0.7) >= 0.75, diag.khat


def test_iwae_increases_with_k_and_bounds_log_marginal(make_model, lg_batch):
    model = make_model(guide_scale=1.4)
    draws = draw_posterior(model, lg_batch, 2000, predictive=False)
    exact = model.log_marginal(lg_batch).numpy()
    gaps = [float(np.mean(iwae_bound(draws.log_weights, k) - exact)) for k in (1, 10, 100)]
    assert gaps[0] < gaps[1] < gaps[2]
    assert gaps[0] < -0.5  # the ELBO is well below log p(x) for this guide
    assert gaps[2] <= 0.02  # a lower bound up to Monte-Carlo error
    assert gaps[2] > -0.1


def test_iwae_bound_equals_elbo_at_k1():
    lw = np.random.default_rng(0).standard_normal((30, 4))
    np.testing.assert_allclose(iwae_bound(lw, 1), lw.mean(0))
    full = np.log(np.exp(lw).mean(0))
    np.testing.assert_allclose(iwae_bound(lw), full)


def test_bad_k_raises(make_model, lg_batch):
    model = make_model()
    with pytest.raises(ValueError, match="K\\) must be an integer >= 2"):
        importance_diagnostics(model, lg_batch, 1)
    with pytest.raises(ValueError, match="K\\) must be an integer >= 1"):
        draw_posterior(model, lg_batch, 0)
    with pytest.raises(ValueError, match="K\\) must be an integer >= 1"):
        iwae_bound(np.zeros((5, 2)), 0)
    with pytest.raises(ValueError, match="exceeds the 5 available draws"):
        iwae_bound(np.zeros((5, 2)), 6)


class _NotElbo(LinearGaussianModel):
    is_elbo = False


def test_non_elbo_model_raises(weight, lg_batch):
    with pytest.raises(ValueError, match="is_elbo=False"):
        importance_diagnostics(_NotElbo(weight), lg_batch, 10)


def test_from_draws_needs_two_draws(make_model, lg_batch):
    draws = draw_posterior(make_model(), lg_batch, 1, predictive=False)
    with pytest.raises(ValueError, match="K >= 2"):
        importance_from_draws(draws)


def test_summary_is_plain_data(make_model, lg_batch):
    diag = importance_diagnostics(make_model(guide_scale=1.1), lg_batch, 50)
    s = diag.summary()
    assert s["num_particles"] == 50 and len(s["per_trial"]) == lg_batch.num_sequences
    assert math.isfinite(s["iwae_mean"])
    assert torch.is_tensor(lg_batch.obs["x"])


def test_small_k_reports_khat_as_not_estimated(make_model, lg_batch):
    diag = importance_diagnostics(make_model(guide_shift=1.0), lg_batch, 10)
    assert not diag.khat_estimable
    assert np.all(np.isinf(diag.khat))
    assert len(diag.flagged()) == 0
    assert "K >= 25" in diag.summary()["khat_note"]


def test_check_elbo_model_reads_the_declaration():
    import torch.nn as nn

    from pyrodyn.diagnostics.importance import check_elbo_model
    from pyrodyn.dynamics.plrnn import ClippedShallowPLRNN
    from pyrodyn.likelihoods import Gaussian
    from pyrodyn.models.mtf import MTF

    with pytest.raises(TypeError, match="need a GenerativeModel, got Linear"):
        check_elbo_model(nn.Linear(1, 1))
    with pytest.raises(ValueError, match=r"MTF is not trained on an ELBO \(is_elbo=False\)"):
        check_elbo_model(MTF({"x": Gaussian(2)}, ClippedShallowPLRNN(2, 4)))
