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
