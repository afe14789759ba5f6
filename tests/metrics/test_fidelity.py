import numpy as np
import pytest
from scipy.stats import spearmanr

from pyrodyn.metrics import (
    autocorrelation,
    autocorrelation_error,
    autocorrelation_error_pearson,
    count_prediction_error,
    get_metric,
    ordinal_prediction_error,
    rate_error,
    spearman_cross_correlation_error,
    zero_fraction_error,
)


@pytest.fixture(scope="module")
def codes():
    rng = np.random.default_rng(0)
    latent = np.cumsum(rng.standard_normal((3000, 2)), axis=0) * 0.1
    mix = latent @ rng.standard_normal((2, 4))
    return np.clip(np.round(mix + 4), 1, 7)


def test_registered_names():
    for name in ["ope", "ppe", "sce", "ace", "acep", "rate_error", "zero_fraction_error"]:
        assert get_metric(name).needs in (("x_true", "forecasts"), ("x_true", "x_gen"))


def test_nstep_errors(codes):
    t, h = len(codes), 3
    perfect = np.zeros((t - h, h, 4))
    for k in range(h):
        perfect[:, k] = codes[k + 1 : t - h + k + 1]
    np.testing.assert_array_equal(ordinal_prediction_error(codes, perfect), np.zeros(h))
    off = perfect + 1.0
    assert ordinal_prediction_error(codes, off, n=2) == pytest.approx(1.0)
    assert count_prediction_error(codes, perfect - 2.0, n=1) == pytest.approx(2.0)


def test_sce(codes):
    assert spearman_cross_correlation_error(codes, codes) == 0.0
    shuffled = np.random.default_rng(1).permuted(codes, axis=0)  # columns shuffled separately
    err = spearman_cross_correlation_error(codes, shuffled)
    want = np.mean(np.abs(spearmanr(codes).statistic - spearmanr(shuffled).statistic))
    assert err == pytest.approx(want, rel=1e-10)
    assert err > 0.05


def test_autocorrelation_matches_direct_sum():
    x = np.random.default_rng(0).standard_normal((300, 2)).cumsum(0)
    acf = autocorrelation(x, 10, spearman=False)
    c = x - x.mean(0)
    for k in (0, 1, 5, 10):
        want = np.sum(c[: len(x) - k] * c[k:], axis=0) / np.sum(c**2, axis=0)
        np.testing.assert_allclose(acf[k], want, rtol=1e-10)


def test_ace(codes):
    assert autocorrelation_error(codes, codes) == 0.0
    shuffled = np.random.default_rng(1).permutation(codes)  # same marginals, no memory
    assert autocorrelation_error(codes, shuffled) > 0.1
    assert autocorrelation_error_pearson(codes, shuffled) > 0.1
    assert autocorrelation_error(codes, codes, max_lag=20) == 0.0
    with pytest.raises(ValueError, match="longer than max_lag"):
        autocorrelation_error(codes[:100], codes[:100])


def test_rate_and_zero_fraction():
    x = np.array([[0, 1], [2, 0], [0, 3], [1, 0]])
    assert rate_error(x, x) == 0.0 and zero_fraction_error(x, x) == 0.0
    y = np.array([[1, 1], [2, 1], [0, 3], [1, 0]])
    assert rate_error(x, y) == pytest.approx(np.mean([0.25, 0.25]))
    assert zero_fraction_error(x, y) == pytest.approx(np.mean([0.25, 0.25]))
    with pytest.raises(ValueError, match="same number of features"):
        rate_error(x, y[:, :1])
