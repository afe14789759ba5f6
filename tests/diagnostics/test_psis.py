import math
import warnings

import numpy as np
import pytest
from scipy import stats

from pyrodyn.diagnostics.arviz_adapter import arviz_module
from pyrodyn.diagnostics.psis import effective_sample_size, psis, tail_length


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


@pytest.mark.parametrize("shape", [0.2, 0.5, 0.9])
def test_khat_recovers_the_pareto_shape_of_the_ratios(shape):
    # ratios drawn from a generalized Pareto distribution: every tail of it has the same shape
    w = stats.genpareto(c=shape).rvs(size=(20, 20000), random_state=11)
    lw, k = psis(np.log(w))
    assert k.shape == (20,)
    # one row's k-hat has sd ~0.07 (425 tail draws); the mean of 20 rows ~0.015
    assert float(k.mean()) == pytest.approx(shape, abs=0.05)
    np.testing.assert_allclose(np.exp(lw).sum(-1), 1.0)


def test_smoothing_replaces_the_tail_only_and_caps_it_at_the_largest_raw_weight():
    w = stats.genpareto(c=0.9).rvs(size=2000, random_state=3)
    smoothed = np.exp(psis(np.log(w))[0])
    order = np.argsort(w)
    body, tail = order[: -tail_length(2000)], order[-tail_length(2000) :]
    # below the tail the weights keep their raw proportions
    np.testing.assert_allclose(smoothed[body] / smoothed[body].sum(), w[body] / w[body].sum())
    # the tail is replaced by increasing Pareto quantiles, none above the largest raw weight
    ratio = smoothed[tail] / smoothed[body].sum() * w[body].sum()
    assert np.all(np.diff(ratio) >= 0) and ratio.max() <= w.max() * (1 + 1e-12)
    assert not np.allclose(ratio, w[tail])


def test_constant_ratios_give_inf():
    lw, k = psis(np.full(100, -3.0))
    assert math.isinf(k)
    np.testing.assert_allclose(np.exp(lw), 0.01)
    # constant up to rounding (an exact guide in float64): no tail is fitted to the noise
    noisy = -3e3 + 1e-10 * np.random.default_rng(0).standard_normal((2, 100))
    lw, k = psis(noisy)
    assert np.isinf(k).all()
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
    with pytest.raises(ValueError, match="all -inf"):
        psis(np.array([[0.0, 1.0], [-np.inf, -np.inf]]))


def test_effective_sample_size():
    assert effective_sample_size(np.zeros(50)) == pytest.approx(50.0)
    lw = np.full(50, -1e3)
    lw[3] = 0.0
    assert effective_sample_size(lw) == pytest.approx(1.0)
