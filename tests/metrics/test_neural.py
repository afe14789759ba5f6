import math

import numpy as np
import pytest
from scipy.stats import poisson

from pyrodyn.metrics import get_metric
from pyrodyn.metrics.neural import bits_per_spike, image_r2, pooled_r2, rate_r2


def test_pooled_r2_reference_values():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(4, 10, 3))
    assert rate_r2(y, y) == 1.0
    assert rate_r2(y, np.full_like(y, y.mean())) == pytest.approx(0.0)
    noisy = y + 0.5 * rng.normal(size=y.shape)
    want = 1 - ((y - noisy) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert image_r2(y, noisy) == pytest.approx(want)
    y_nan = y.copy()
    y_nan[0, 0, 0] = np.nan
    assert np.isfinite(pooled_r2(y_nan, noisy))


def test_bits_per_spike_against_scipy():
    rng = np.random.default_rng(1)
    rates = rng.gamma(2.0, 1.0, size=(5, 20, 4))
    y = rng.poisson(rates).astype(float)
    ll = poisson.logpmf(y, rates).sum()
    base = y.reshape(-1, 4).mean(0)
    ll0 = poisson.logpmf(y, np.broadcast_to(base, y.shape)).sum()
    want = (ll - ll0) / (y.sum() * math.log(2))
    assert bits_per_spike(y, rates) == pytest.approx(want)
    assert bits_per_spike(y, rates) > 0
    # the baseline itself scores 0
    assert bits_per_spike(y, np.broadcast_to(base, y.shape).copy()) == pytest.approx(0.0, abs=1e-12)
    assert bits_per_spike(y, rates, baseline_rates=np.ones(4)) != pytest.approx(want)


def test_registered():
    for name in ("rate_r2", "bits_per_spike", "image_r2"):
        spec = get_metric(name)
        assert spec.needs == ("x_true", "x_gen")


def test_bad_inputs():
    with pytest.raises(ValueError, match="same shape"):
        rate_r2(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="constant"):
        rate_r2(np.ones(5), np.arange(5.0))
    with pytest.raises(ValueError, match="non-negative integer counts"):
        bits_per_spike(np.array([[1.0, -1.0]]), np.ones((1, 2)))
    with pytest.raises(ValueError, match="positive finite rates"):
        bits_per_spike(np.array([[1.0, 2.0]]), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="no spikes"):
        bits_per_spike(np.zeros((3, 2)), np.ones((3, 2)))


def test_input_names_in_errors_and_empty_input():
    with pytest.raises(TypeError, match=r"^x_true must be array-like"):
        rate_r2(["a", "b"], np.zeros(2))
    with pytest.raises(TypeError, match=r"^x_gen must be array-like"):
        bits_per_spike(np.ones(2), ["a", "b"])
    with pytest.raises(ValueError, match="non-empty"):
        image_r2(np.zeros((0, 3)), np.zeros((0, 3)))


def test_bits_per_spike_single_bin_by_hand():
    # one neuron, one bin: y = 3, rate 2, baseline = the mean count 3
    # (3 ln 2 - 2) - (3 ln 3 - 3) = 1 + 3 ln(2/3), over 3 spikes, in bits
    want = (1.0 + 3.0 * math.log(2.0 / 3.0)) / (3.0 * math.log(2.0))
    assert bits_per_spike(np.array([[3.0]]), np.array([[2.0]])) == pytest.approx(want)
