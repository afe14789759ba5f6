import warnings

import numpy as np
import pytest

from pyrodyn.metrics import prediction_error


def _perfect_forecasts(x, horizon):
    t = len(x)
    f = np.full((t, horizon, x.shape[1]), np.nan)
    for k in range(horizon):
        f[: t - k - 1, k] = x[k + 1 :]
    return f


def test_perfect_forecasts_give_zero(lorenz_traj):
    x = lorenz_traj[:500]
    f = _perfect_forecasts(x, 5)
    np.testing.assert_array_equal(prediction_error(x, f), np.zeros(5))
    assert prediction_error(x, f, n=3) == 0.0


def test_persistence_forecast_matches_hand_computation():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 2))
    f = np.repeat(x[:, None, :], 4, axis=1)  # predict "no change"
    curve = prediction_error(x, f)
    for n in range(1, 5):
        assert curve[n - 1] == pytest.approx(np.mean((x[:-n] - x[n:]) ** 2))
    assert prediction_error(x, f, n=2) == pytest.approx(curve[1])


def test_shorter_forecast_array_and_bad_input():
    x = np.arange(20.0)[:, None]
    f = x[:10, None, :] + 1.0  # 10 starts, horizon 1: predicts x[t] + 1 = x[t + 1]
    assert prediction_error(x, f, n=1) == 0.0
    with pytest.raises(ValueError, match=r"n must be an int in 1\.\.1"):
        prediction_error(x, f, n=2)
    with pytest.raises(ValueError, match="forecasts have 2 features"):
        prediction_error(x, np.zeros((10, 1, 2)))
    with pytest.raises(ValueError, match=r"shape \(time, horizon, features\)"):
        prediction_error(np.zeros((5, 2)), np.zeros(5))


def test_univariate_forecasts_may_drop_the_feature_axis():
    x = np.array([0.0, 1.0, 3.0, 6.0])
    f = np.array([[1.0, 2.0], [2.0, 5.0], [3.0, 9.0], [0.0, 0.0]])  # (T, H), no feature axis
    # horizon 1: errors (1-1, 2-3, 3-6) -> mean of 0, 1, 9; horizon 2: (2-3, 5-6) -> 1, 1
    np.testing.assert_allclose(prediction_error(x, f), [10.0 / 3.0, 1.0])
    np.testing.assert_allclose(prediction_error(x[:, None], f), [10.0 / 3.0, 1.0])
    with pytest.raises(ValueError, match=r"shape \(time, horizon, features\)"):
        prediction_error(np.zeros((4, 2)), np.zeros((4, 2)))


def test_forecast_shape_checks_and_names():
    x = np.zeros((5, 2))
    with pytest.raises(ValueError, match="do not fit"):
        prediction_error(x, np.zeros((6, 1, 2)))  # more start times than x_true has steps
    with pytest.raises(ValueError, match="do not fit"):
        prediction_error(x, np.zeros((5, 0, 2)))  # empty horizon
    with pytest.raises(TypeError, match=r"^forecasts must be array-like"):
        prediction_error(x, [[["a", "b"]]])
    with pytest.raises(ValueError, match=r"^x_true must have shape \(time, features\)"):
        prediction_error(np.zeros((5, 2, 1)), np.zeros((5, 1, 2)))


def test_horizons_beyond_the_data_are_nan_without_warnings():
    x = np.array([0.0, 1.0, 3.0])[:, None]
    f = np.zeros((3, 5, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" from the skipped horizons
        curve = prediction_error(x, f)
        single = prediction_error(x, f, n=4)
    # horizon 1 targets x[1:], horizon 2 only x[2] (one start); horizons 3..5 have no target
    assert curve.shape == (5,)
    assert curve.dtype == np.float64
    np.testing.assert_allclose(curve[:2], [5.0, 9.0])
    assert np.isnan(curve[2:]).all()
    assert isinstance(single, float) and np.isnan(single)
    assert isinstance(prediction_error(x, f, n=2), float)
