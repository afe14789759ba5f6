"""Spectrum panels: labelled axes and a power axis clipped a few decades below the data's peak."""

import numpy as np
import pytest

from pyrodyn.plots import plot_power_spectra
from pyrodyn.plots.spectra import DECADES, spectrum_limits


def _decaying(n=64, rate=40.0):
    f = np.fft.rfftfreq(2 * (n - 1))
    s = np.exp(-rate * f)
    return f, s / s.sum()


def test_a_collapsed_spectrum_does_not_stretch_the_power_axis(tmp_path, missing_labels):
    f, obs = _decaying()
    gen = np.full_like(obs, 1e-40)
    fig = plot_power_spectra(
        {"x": {"freq": f, "spectrum_obs": obs[:, None], "spectrum_gen": gen[:, None]}},
        path=tmp_path / "s.png",
    )
    assert (tmp_path / "s.png").stat().st_size > 1000
    (ax,) = fig.axes
    peak = obs[1:].max()
    lower, upper = ax.get_ylim()
    assert lower == pytest.approx(peak * 10.0**-DECADES)
    assert upper >= peak
    # the frequency axis ends a little after the data fall below the floor for good
    last = f[1:][obs[1:] >= lower][-1]
    assert ax.get_xlim() == pytest.approx((0.0, 1.2 * last))
    assert missing_labels(fig) == []
    assert [t.get_text() for t in ax.texts] == ["generated: below this range"]
    fig = plot_power_spectra({"x": {"freq": f, "spectrum_obs": obs, "spectrum_gen": obs}})
    assert len(fig.axes[0].texts) == 0


def test_the_power_axis_is_tight_when_everything_is_above_the_floor():
    f = np.fft.rfftfreq(40)
    obs = 0.03 + 0.01 * np.sin(f * 20) ** 2
    gen = obs * 1.2
    xlim, ylim = spectrum_limits(f, obs, gen)
    assert ylim == pytest.approx((0.5 * obs[1:].min(), 2.0 * gen[1:].max()))
    assert xlim == (0.0, f[-1])


def test_every_panel_has_both_labels_and_a_title(missing_labels):
    f, obs = _decaying()
    rec = {
        "freq": f,
        "spectrum_obs": np.stack([obs, obs], 1),
        "spectrum_gen": np.stack([obs] * 2, 1),
    }
    fig = plot_power_spectra({"a": {**rec, "d_h": 0.25}, "b": rec, "_generated": {}})
    assert len(fig.axes) == 2
    assert missing_labels(fig) == []
    assert [ax.get_ylabel() for ax in fig.axes] == ["power (fraction of total)"] * 2
    assert fig.axes[0].get_xlabel() == "frequency (cycles / step)"
    assert fig.axes[0].get_title() == "a  (D_H = 0.250)"
    fig = plot_power_spectra({"a": rec}, freq_unit="cycles / s")
    assert fig.axes[0].get_xlabel() == "frequency (cycles / s)"


def test_bad_input_is_refused():
    f, obs = _decaying()
    with pytest.raises(ValueError, match="no spectra"):
        plot_power_spectra({"_generated": {}})
    with pytest.raises(ValueError, match="no positive finite power"):
        spectrum_limits(f, np.zeros_like(obs))
    with pytest.raises(ValueError, match="decades must be > 0"):
        spectrum_limits(f, obs, decades=0)
