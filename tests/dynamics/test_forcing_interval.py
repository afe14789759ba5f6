"""`suggest_forcing_interval` and its curve estimators against hand-written references."""

import math

import numpy as np
import pytest
import torch

from pyrodyn.dynamics.forcing import (
    _acf,
    _delayed_mi,
    _first_local_min,
    _mean_over_trials,
    suggest_forcing_interval,
)

T = np.arange(4000)
# a slow oscillation with a small fast ripple: the ripple is what the short-lag curves see
SLOW, FAST = np.sin(2 * np.pi * T / 400), np.sin(2 * np.pi * T / 10)


def _ref_acf(x: np.ndarray, max_lag: int) -> np.ndarray:
    ok = np.isfinite(x)
    mean = x[ok].mean()
    out = []
    for k in range(max_lag + 1):
        pairs = [
            (x[i] - mean) * (x[i + k] - mean) for i in range(len(x) - k) if ok[i] and ok[i + k]
        ]
        out.append(sum(pairs) / max(len(pairs), 1))
    return np.array(out)


def _ref_mi(x: np.ndarray, max_lag: int, bins: int) -> np.ndarray:
    edges = np.linspace(np.nanmin(x), np.nanmax(x), bins + 1)
    out = np.full(max_lag + 1, np.nan)
    for k in range(max_lag + 1):
        a, b = x[: len(x) - k], x[k:]
        keep = np.isfinite(a) & np.isfinite(b)
        if keep.sum() < 2:
            continue
        joint, _, _ = np.histogram2d(a[keep], b[keep], bins=[edges, edges])
        p = joint / joint.sum()
        outer = p.sum(1)[:, None] * p.sum(0)[None, :]
        nz = p > 0
        out[k] = (p[nz] * np.log(p[nz] / outer[nz])).sum()
    return out


def test_acf_matches_a_pairwise_loop_with_missing_values():
    rng = np.random.default_rng(1)
    x = 3.0 + rng.normal(size=40).cumsum()  # non-zero mean
    x[[2, 3, 17, 30]] = np.nan
    np.testing.assert_allclose(_acf(x, 12), _ref_acf(x, 12), rtol=1e-12)
    # at the longest lags a single finite pair remains: its product, not half of it
    y = np.array([1.0, np.nan, np.nan, 4.0, 2.0])
    np.testing.assert_allclose(_acf(y, 4), _ref_acf(y, 4), rtol=1e-12)


def test_delayed_mi_matches_a_histogram2d_reference():
    rng = np.random.default_rng(2)
    x = np.sin(np.arange(300) / 5.0) + 0.3 * rng.normal(size=300)
    x[[5, 6, 100]] = np.nan
    np.testing.assert_allclose(_delayed_mi(x, 10, 8), _ref_mi(x, 10, 8), rtol=1e-10)
    # lags with fewer than two finite pairs are NaN, later lags are still estimated
    # (lag 4 has exactly two pairs)
    y = np.array([0.0, np.nan, 1.0, np.nan, 2.0, np.nan, 3.0, 4.0])
    mi = _delayed_mi(y, 7, 3)
    np.testing.assert_allclose(mi, _ref_mi(y, 7, 3), rtol=1e-10)
    assert np.isfinite(mi).tolist() == [True, False, True, False, True, False, False, False]


def test_delayed_mi_does_not_depend_on_the_data_units():
    # regression: an absolute 1e-12 in the bin width put data of tiny range (currents in
    # amperes, say) into fewer bins, lowering the MI estimate
    rng = np.random.default_rng(3)
    x = np.sin(np.arange(2000) / 6.0) + 0.3 * rng.normal(size=2000)
    ref = _delayed_mi(x, 15, 64)
    for unit in (1e-13, 1e6):
        np.testing.assert_allclose(_delayed_mi(x * unit, 15, 64), ref, rtol=1e-9, atol=1e-12)
    # a constant series carries no information (one bin), without a division by zero
    np.testing.assert_array_equal(_delayed_mi(np.full(6, 2.5), 3, 4), np.zeros(4))


def test_first_local_min_rules():
    assert _first_local_min(np.array([1.0, 0.0, -1.0, 0.0, 1.0])) == 2
    assert _first_local_min(np.array([0.5, 0.1, 0.5])) == 1  # small range, still a minimum
    assert _first_local_min(np.array([1.0, 0.2, 0.8, 0.1, 0.9])) == 1  # the first of two
    # a dip of prominence 0.05 is below 2% of the range 10; the deep one counts
    assert _first_local_min(np.array([10.0, 8.0, 8.05, 6.0, 0.0, 5.0])) == 4
    # NaN entries (lags without pairs) are ignored
    assert _first_local_min(np.array([np.nan, 1.0, 0.2, 1.0, np.nan])) == 2
    assert _first_local_min(np.array([3.0, 2.0, 1.0])) is None  # monotone
    assert _first_local_min(np.full(5, 0.7)) is None
    assert _first_local_min(np.full(5, np.nan)) is None  # no lag had pairs


def test_lags_without_pairs_in_any_trial_warn_nothing():
    """Every other step missing: odd lags have no pair in any trial (numpy would warn on the
    empty means); the suggestion is the same as from the even lags' curves alone."""
    import warnings

    x = SLOW + 0.3 * FAST
    holes = x.copy()
    holes[1::2] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tau = suggest_forcing_interval(np.stack([holes, holes])[..., None], max_lag=60)
        assert tau == suggest_forcing_interval(holes, max_lag=60)
    mean = _mean_over_trials(np.array([[1.0, np.nan, 3.0], [3.0, np.nan, np.nan]]))
    np.testing.assert_array_equal(mean, [2.0, np.nan, 3.0])


def test_tau_from_the_acf_crossing():
    # period 10.3: acf = cos(2 pi k / 10.3) first drops below 1/e at k = 2 (0.34); its
    # first minimum is at 5, the MI's (quarter period) at 3 or 4
    x = np.sin(2 * np.pi * T / 10.3)
    assert suggest_forcing_interval(x) == 2
    # a (trials, T, N) array, and a tensor that requires grad, are accepted
    trials = np.stack([x, np.roll(x, 3)])[:, :, None]
    assert suggest_forcing_interval(trials) == 2
    assert suggest_forcing_interval(torch.tensor(x, requires_grad=True)) == 2
    with pytest.raises(ValueError, match=r"\(trials, T, N\)"):
        suggest_forcing_interval(trials[None])


def test_tau_from_the_acf_minimum():
    # the ripple gives the acf a prominent minimum at its half period 5; over 20 lags the acf
    # stays above 1/e and the sign-level (2-bin) MI has no minimum
    x = SLOW + 0.1 * FAST
    acf = _acf(x, 20) / _acf(x, 20)[0]
    assert acf.min() > 1 / math.e
    assert _first_local_min(_delayed_mi(x, 20, 2)) is None
    assert suggest_forcing_interval(x, max_lag=20, bins=2) == 5


def test_tau_from_the_mi_minimum():
    # with 64 bins the MI resolves the ripple (first minimum before its half period 5) while
    # the acf only crosses 1/e after ~77 lags and its ripple minimum is too shallow to count
    x = SLOW + 0.1 * FAST
    tau = suggest_forcing_interval(x)
    assert 2 <= tau <= 5
    assert suggest_forcing_interval(np.stack([x, x])[:, :, None]) == tau  # two equal trials


def test_tau_without_any_minimum_is_the_lag_limit():
    # over 20 lags: acf above 1/e, no prominent minimum in the acf or the sign-level MI
    x = SLOW + 0.05 * FAST
    assert suggest_forcing_interval(x, max_lag=20, bins=2) == 20
    # a random walk stays correlated far beyond the default max_lag of 100
    walk = np.random.default_rng(0).normal(size=4000).cumsum()
    assert suggest_forcing_interval(walk) == 100


def test_default_settings():
    # a noisy series whose suggestion depends on the number of MI bins
    rng = np.random.default_rng(36)
    x = np.sin(2 * np.pi * np.arange(1000) / 60) + 0.5 * rng.normal(size=1000)
    assert suggest_forcing_interval(x, bins=65) != suggest_forcing_interval(x, bins=64)
    assert suggest_forcing_interval(x) == suggest_forcing_interval(x, max_lag=100, bins=64)


def test_white_noise_gives_tau_one():
    rng = np.random.default_rng(0)
    assert suggest_forcing_interval(rng.normal(size=(3000, 2))) == 1


def test_argument_and_channel_limits():
    rng = np.random.default_rng(4)
    noise = rng.normal(size=(200, 1))
    assert suggest_forcing_interval(noise, max_lag=2, bins=2) >= 1  # smallest valid settings
    with pytest.raises(ValueError, match="max_lag and bins must be >= 2, got 1 and 64"):
        suggest_forcing_interval(noise, max_lag=1)
    with pytest.raises(ValueError, match="max_lag and bins must be >= 2, got 100 and 1"):
        suggest_forcing_interval(noise, bins=1)
    # five steps leave two lags: still enough
    assert suggest_forcing_interval(np.array([0.0, 2.0, 1.0, 3.0, 0.5])) >= 1
    # a constant first channel is skipped, the next one decides
    x = np.stack([np.ones(4000), np.sin(2 * np.pi * T / 10.3)], 1)
    assert suggest_forcing_interval(x) == 2
    # 10 steps allow 5 lags (half the series, below max_lag), and a trial needs more finite
    # values than lags: 5 are too few, 6 enough
    nan = np.nan
    with pytest.raises(ValueError, match="no channel"):
        suggest_forcing_interval(np.array([0.0, 1.0, 3.0, 2.0, nan, 5.0, nan, nan, nan, nan]))
    six = np.array([0.0, 1.0, 3.0, 2.0, nan, 5.0, 4.0, nan, nan, nan])
    assert suggest_forcing_interval(six) >= 1
