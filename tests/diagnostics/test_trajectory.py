"""The verdict on a free-running generation, in words."""

import numpy as np
import pytest

from pyrodyn.diagnostics.trajectory import (
    STATUSES,
    failure_note,
    trajectory_status,
    trajectory_verdict,
)


def _true():
    t = np.linspace(0, 60, 3000)
    return np.stack([np.sin(t), np.cos(1.3 * t), np.sin(0.7 * t)], 1)


def test_the_verdict_says_in_words_what_happened():
    true = _true()
    assert "stays on an attractor" in trajectory_verdict(true, true[::-1] * 1.1)
    fixed = np.ones((3000, 3)) + np.concatenate([true[:1500], 0 * true[1500:]])  # settles
    assert trajectory_verdict(true, fixed, advice="fit longer") == (
        "the generated trajectory collapsed to a fixed point (no variation in its second half): "
        "the model has not learned the attractor yet; fit longer"
    )
    assert "diverged" in trajectory_verdict(true, np.full((10, 3), np.nan))
    assert "blew up" in trajectory_verdict(true, 100 * true)


def test_the_thresholds_are_relative_to_the_data_spread_per_dimension():
    true = _true()
    gen = true.copy()
    gen[:, 2] *= 6.0  # one dimension far too wide is a blow-up
    assert "blew up" in trajectory_verdict(true, gen)
    gen = 0.04 * true  # every dimension too narrow: collapsed
    assert "collapsed" in trajectory_verdict(true, gen)
    gen[:, 0] = true[:, 0]  # one dimension still varies: not a fixed point
    assert "stays on an attractor" in trajectory_verdict(true, gen)


def test_status_and_the_note_of_a_failure_only():
    true = _true()
    cases = {"ok": true * 0.9, "collapsed": 0.0 * true, "blew_up": 9 * true}
    cases["diverged"] = np.concatenate([true, np.full((1, 3), np.inf)])
    assert set(cases) == set(STATUSES)
    for status, gen in cases.items():
        assert trajectory_status(true, gen) == status
        note = failure_note(true, gen, advice="refit")
        if status == "ok":
            assert note is None
        else:
            assert note == trajectory_verdict(true, gen, advice="refit") and "refit" in note


def test_missing_data_are_ignored():
    true = _true()
    true[::7, 1] = np.nan
    assert "stays on an attractor" in trajectory_verdict(true, _true())


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"\(time, dims\) with the same dims, got \(3000, 3\)"):
        trajectory_verdict(_true(), _true()[:, :2])
    with pytest.raises(ValueError, match=r"got \(3000,\) and \(3000,\)"):
        trajectory_status(_true()[:, 0], _true()[:, 0])
