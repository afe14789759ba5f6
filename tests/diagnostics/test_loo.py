import numpy as np
import pyro
import pytest
from scipy.special import logsumexp

from pyrodyn.diagnostics.loo import (
    IS_MARGINAL,
    PSIS_LOO,
    compare,
    loo,
    loo_all,
    loo_summary,
    psis_loo,
)
from pyrodyn.diagnostics.sampling import draw_posterior
from pyrodyn.testing.linear_gaussian import LinearGaussianModel


def test_loo_is_log_marginal_for_exact_guide(make_model, lg_batch):
    model = make_model()
    res = loo(draw_posterior(model, lg_batch, 50, predictive=False), "x")
    np.testing.assert_allclose(res.pointwise, model.log_marginal(lg_batch).numpy(), atol=1e-8)
    assert res.elpd == pytest.approx(float(res.pointwise.sum()))
    assert res.p_loo > 0  # the trial's data sharpen the prediction of itself
    s = res.summary()
    assert s["num_trials"] == lg_batch.num_sequences


def test_loo_close_to_exact_for_wide_guide(make_model, lg_batch):
    model = make_model(guide_scale=1.2)
    res = loo_all(draw_posterior(model, lg_batch, 1000, predictive=False))["x"]
    np.testing.assert_allclose(res.pointwise, model.log_marginal(lg_batch).numpy(), atol=0.1)
    assert np.all(res.khat < 0.7)


def test_compare_prefers_the_true_noise(weight):
    truth = LinearGaussianModel(weight, noise=0.5)
    batch = truth.simulate(30, 4)
    wrong = LinearGaussianModel(weight, noise=1.5)
    results = {
        name: loo(draw_posterior(m, batch, 200, predictive=False), "x")
        for name, m in (("right", truth), ("wrong", wrong))
    }
    rows = compare(results)
    assert rows[0]["name"] == "right" and rows[0]["elpd_diff"] == 0.0
    assert rows[1]["elpd_diff"] < -2 * rows[1]["se_diff"]


def test_loo_bad_inputs(make_model, lg_batch):
    draws = draw_posterior(make_model(), lg_batch, 3, predictive=False)
    with pytest.raises(ValueError, match="unknown modality 'y'"):
        loo(draws, "y")
    with pytest.raises(ValueError, match="at least one"):
        compare({})
    one = draw_posterior(make_model(), lg_batch, 1, predictive=False)
    with pytest.raises(ValueError, match="at least 2 draws"):
        loo(one, "x")
    with pytest.raises(ValueError, match="at least 2 draws"):
        psis_loo(one, "x")
    with pytest.raises(ValueError, match="unknown modality 'y'"):
        psis_loo(draws, "y")
    with pytest.raises(ValueError, match="one estimator"):
        compare({"a": loo(draws, "x"), "b": psis_loo(draws, "x")})


def test_both_estimators_estimate_log_p_x_for_one_modality_and_an_exact_guide(weight):
    # one step per trial and noisy data: the posterior is close to the prior, so PSIS-LOO's
    # harmonic-mean-type weights are usable; the exact guide makes the ratios constant
    model = LinearGaussianModel(weight, noise=3.0)
    pyro.set_rng_seed(0)
    batch = model.simulate(12, 1)
    exact = model.log_marginal(batch).numpy()
    draws = draw_posterior(model, batch, 2000, predictive=False)
    a, b = psis_loo(draws, "x"), loo(draws, "x")
    assert (a.estimator, b.estimator) == (PSIS_LOO, IS_MARGINAL)
    np.testing.assert_allclose(b.pointwise, exact, atol=1e-8)
    assert a.elpd == pytest.approx(exact.sum(), rel=1e-2)
    np.testing.assert_allclose(a.pointwise, exact, atol=0.3)
    # lppd is the in-sample log mean likelihood over the draws
    ll = draws.trial_log_lik("x")
    np.testing.assert_allclose(a.lppd, logsumexp(ll, axis=0) - np.log(2000))


def test_psis_loo_flags_the_trials_where_it_departs_from_log_p_x(weight):
    # informative data: leaving a whole trial out moves the posterior back to the prior, far
    # from the draws; PSIS-LOO is then biased, and its k-hat says so
    model = LinearGaussianModel(weight, noise=0.5)
    pyro.set_rng_seed(0)
    batch = model.simulate(12, 3)
    exact = model.log_marginal(batch).numpy()
    res = psis_loo(draw_posterior(model, batch, 1000, predictive=False), "x")
    off = np.abs(res.pointwise - exact) > 1.0
    assert off.any() and np.all(res.khat[off] > 0.7)


def test_loo_summary_names_both_estimators(make_model, lg_batch):
    draws = draw_posterior(make_model(guide_scale=1.2), lg_batch, 50, predictive=False)
    out = loo_summary(draws)
    row = out["x"]
    assert row["estimator"] == PSIS_LOO and row[IS_MARGINAL]["estimator"] == IS_MARGINAL
    assert row["elpd_loo"] == pytest.approx(psis_loo(draws, "x").elpd)
    assert row[IS_MARGINAL]["elpd_loo"] == pytest.approx(loo(draws, "x").elpd)
    # ArviZ's effective number of parameters belongs to PSIS-LOO only
    assert "p_loo" in row and "p_loo" not in row[IS_MARGINAL]
    pointwise = psis_loo(draws, "x").pointwise
    assert row["se"] == pytest.approx(np.sqrt(12 * np.var(pointwise)))
