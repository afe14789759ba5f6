import numpy as np
import pytest

from pyrodyn.diagnostics.loo import compare, loo, loo_all
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
