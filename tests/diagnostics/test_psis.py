import math
import warnings

import numpy as np
import pytest
from scipy import stats

from pyrodyn.diagnostics.arviz_adapter import arviz_module
from pyrodyn.diagnostics.psis import (
    effective_sample_size,
    fit_generalized_pareto,
    psis,
    tail_length,
)


@pytest.mark.parametrize(("scale", "size"), [(0.5, 200), (1.0, 1000), (2.0, 1000), (3.0, 400)])
def test_psis_matches_arviz(scale, size):
    az = arviz_module()
    lr = np.random.default_rng(3).standard_normal(size) * scale
    lw, k = psis(lr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lw_ref, k_ref = az.psislw(lr.copy())
    assert k == pytest.approx(float(k_ref), abs=1e-10)
    np.testing.assert_allclose(lw, lw_ref, atol=1e-10)
    assert np.exp(lw).sum() == pytest.approx(1.0)


def test_psis_batched_last_axis():
    lr = np.random.default_rng(0).standard_normal((3, 2, 100))
    lw, k = psis(lr)
    assert lw.shape == (3, 2, 100) and k.shape == (3, 2)
    _, k01 = psis(lr[0, 1])
    assert k[0, 1] == pytest.approx(float(k01))


def test_gpd_fit_recovers_shape():
    x = np.sort(stats.genpareto(c=0.4, scale=2.0).rvs(5000, random_state=1))
    k, sigma = fit_generalized_pareto(x, prior_weight=0.0)
    assert k == pytest.approx(0.4, abs=0.05)
    assert sigma == pytest.approx(2.0, rel=0.1)


def test_constant_ratios_give_inf():
    lw, k = psis(np.full(100, -3.0))
    assert math.isinf(k)
    np.testing.assert_allclose(np.exp(lw), 0.01)


def test_too_few_draws_for_a_tail_give_inf():
    assert tail_length(20) == 4
    _, k = psis(np.random.default_rng(0).standard_normal(20))
    assert math.isinf(k)


def test_bad_ratios_raise():
    with pytest.raises(ValueError, match="NaN or \\+inf"):
        psis(np.array([0.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="at least 2 draws"):
        psis(np.array([0.0]))


def test_effective_sample_size():
    assert effective_sample_size(np.zeros(50)) == pytest.approx(50.0)
    lw = np.full(50, -1e3)
    lw[3] = 0.0
    assert effective_sample_size(lw) == pytest.approx(1.0)
