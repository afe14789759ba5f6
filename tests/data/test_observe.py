import numpy as np
import pytest

from pyrodyn.data import observe


@pytest.fixture(scope="module")
def states():
    rng = np.random.default_rng(0)
    # Smooth correlated 3-D states, standardised.
    x = np.cumsum(rng.standard_normal((4000, 3)), axis=0)
    return (x - x.mean(0)) / x.std(0)


def test_gaussian(states):
    y = observe.gaussian(states, noise=0.2, seed=1)
    assert y.shape == states.shape
    assert (y - states).std() == pytest.approx(0.2, rel=0.05)
    np.testing.assert_array_equal(y, observe.gaussian(states, noise=0.2, seed=1))
    np.testing.assert_array_equal(observe.gaussian(states, noise=0.0), states)


def test_poisson_support_and_target_rate(states):
    counts, rates = observe.poisson(states, 4, mean_rate=2.5, seed=2, return_rates=True)
    assert counts.shape == (4000, 4) and counts.dtype == np.int64
    assert counts.min() >= 0
    np.testing.assert_allclose(rates.mean(0), 2.5, rtol=1e-10)
    np.testing.assert_allclose(counts.mean(0), 2.5, rtol=0.1)
    strong = observe.poisson(states, 2, seed=2, weight_scale=2.0, return_rates=True)[1]
    assert np.abs(np.corrcoef(np.c_[np.log(strong), states].T)[:2, 2:]).max() > 0.5


def test_ordinal_support_and_dependence(states):
    codes = observe.ordinal(states, num_channels=8, num_categories=5, seed=3)
    assert codes.shape == (4000, 8) and codes.dtype == np.int64
    assert codes.min() >= 1 and codes.max() <= 5
    assert len(np.unique(codes)) == 5
    corr = np.corrcoef(np.c_[codes, states].T)[:8, 8:]
    assert np.abs(corr).max() > 0.6
    np.testing.assert_array_equal(codes, observe.ordinal(states, 8, 5, seed=3))


def test_categorical_octants():
    x = np.array([[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0], [1.0, -1.0, -1.0], [-1.0, 1.0, 1.0]])
    labels = observe.categorical_octants(x)
    np.testing.assert_array_equal(labels, [7, 0, 1, 6])
    one_hot = observe.categorical_octants(x, one_hot=True)
    assert one_hot.shape == (4, 8)
    np.testing.assert_array_equal(one_hot.argmax(-1), labels)
    shifted = observe.categorical_octants(x + 5.0)  # centred on the mean state
    np.testing.assert_array_equal(shifted, labels)


def test_bernoulli(states):
    b = observe.bernoulli(states, 5, seed=4)
    assert b.shape == (4000, 5) and set(np.unique(b)) == {0, 1}
    np.testing.assert_allclose(b.mean(0), 0.5, atol=0.1)


def test_trials_layout(states):
    trials = states.reshape(4, 1000, 3)
    assert observe.ordinal(trials, 3, seed=0).shape == (4, 1000, 3)
    assert observe.poisson(trials, 2, seed=0).shape == (4, 1000, 2)
    assert observe.categorical_octants(trials).shape == (4, 1000)
    assert observe.bernoulli(trials, 2, seed=0).shape == (4, 1000, 2)


def test_bad_inputs(states):
    with pytest.raises(ValueError, match=r"shape \(time, dim\) or \(trials, time, dim\)"):
        observe.gaussian(np.zeros(5))
    with pytest.raises(ValueError, match="num_categories must be an int >= 2"):
        observe.ordinal(states, 2, num_categories=1)
    with pytest.raises(ValueError, match="mean_rate must be > 0"):
        observe.poisson(states, 2, mean_rate=0.0)
    with pytest.raises(ValueError, match="num_channels must be a positive int"):
        observe.bernoulli(states, 0)
    with pytest.raises(ValueError, match="states must be finite"):
        observe.gaussian(np.full((3, 2), np.nan))
