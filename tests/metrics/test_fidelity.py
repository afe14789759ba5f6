import warnings

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


def _direct_acf(r, max_lag):
    """Reference ACF by the defining sum, lag by lag (constant columns: 1 then 0)."""
    c = r - r.mean(0)
    den = np.sum(c**2, axis=0)
    out = np.zeros((max_lag + 1, r.shape[1]))
    for k in range(max_lag + 1):
        num = np.sum(c[: len(r) - k] * c[k:], axis=0)
        out[k] = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    out[0] = 1.0
    return out


def test_autocorrelation_defaults_to_spearman_of_each_column():
    from scipy.stats import rankdata

    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 3)).cumsum(0)
    x[:, 2] = np.round(x[:, 2])  # ties
    skewed = np.exp(x) * np.array([1.0, 100.0, 0.01])  # monotone: same ranks, other values
    acf = autocorrelation(skewed, 6)
    assert acf.shape == (7, 3)
    np.testing.assert_allclose(acf, _direct_acf(rankdata(x, axis=0), 6), atol=1e-12)


def test_autocorrelation_pearson_is_scale_free_and_constant_series_are_zero():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((50, 2)).cumsum(0) * 1e-3  # sum of squares far below 1
    acf = autocorrelation(x, 5, spearman=False)
    assert acf.shape == (6, 2)
    np.testing.assert_allclose(acf, _direct_acf(x, 5), atol=1e-12)
    const = np.column_stack([np.full(20, 3.0), np.arange(20.0)])
    for spearman in (True, False):
        acf = autocorrelation(const, 4, spearman=spearman)
        np.testing.assert_array_equal(acf[:, 0], [1.0, 0.0, 0.0, 0.0, 0.0])
        assert np.all(np.isfinite(acf))


def test_autocorrelation_constant_float_series_has_zero_acf():
    # 0.1 has no exact mean in floating point: the centred series is rounding noise, not signal
    for t in (7, 10, 301):
        x = np.column_stack([np.full(t, 0.1), np.arange(t) % 3])
        acf = autocorrelation(x, 3, spearman=False)
        np.testing.assert_array_equal(acf[:, 0], [1.0, 0.0, 0.0, 0.0])
    # a single time point: lag 0 only
    np.testing.assert_array_equal(autocorrelation(np.array([[2.0, 5.0]]), 0), [[1.0, 1.0]])


def test_autocorrelation_rejects_bad_shape_by_name():
    with pytest.raises(ValueError, match=r"^x must have shape \(time, features\)"):
        autocorrelation(np.zeros((4, 2, 2)), 1)


def test_sce_short_series_with_ties_and_a_constant_channel():
    # 4 points, the last channel mostly tied: its rank standard deviation is below 1
    x_true = np.array([[1, 5, 2, 1], [2, 3, 2, 1], [3, 3, 2, 1], [4, 1, 2, 2]], dtype=float)
    x_gen = np.array([[4, 1, 0, 0], [1, 2, 1, 0], [2, 2, 5, 1], [3, 9, 2, 0]], dtype=float)

    def spearman_matrix(x):
        # scipy gives NaN for a constant channel; the documented convention is 0 off-diagonal
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rho = np.atleast_2d(spearmanr(x).statistic)
        rho = np.where(np.isnan(rho), 0.0, rho)
        np.fill_diagonal(rho, 1.0)
        return rho

    rho_true = spearman_matrix(x_true)
    # by hand: ranks (1, 2, 3, 4) against (4, 2.5, 2.5, 1) give -4.5 / sqrt(5 * 4.5)
    assert rho_true[0, 2] == 0.0 and rho_true[0, 1] == pytest.approx(-4.5 / np.sqrt(22.5))
    want = np.mean(np.abs(rho_true - spearman_matrix(x_gen)))
    assert spearman_cross_correlation_error(x_true, x_gen) == pytest.approx(want, abs=1e-12)
