"""The evaluate / demo figure: attractors on shared ranges, the verdict, labelled spectra."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from pyrodyn.plots import plot_generated


def _series(n=3000, d=3, seed=0):
    t = np.arange(n) * 0.05
    rng = np.random.default_rng(seed)
    freqs = np.array([0.7, 1.3, 2.9, 0.4, 1.9])[:d]
    return np.sin(np.outer(t, freqs)) + 0.1 * rng.standard_normal((n, d))


def _reference_spectrum(x, sigma):
    """z-score, |rfft|^2, Gaussian smoothing (scipy), normalise to sum 1: written from the math."""
    z = (x - x.mean(0)) / x.std(0)
    p = gaussian_filter1d(np.abs(np.fft.rfft(z, axis=0)) ** 2, sigma, axis=0, mode="reflect")
    return p / p.sum(0)


def _spectrum_axes(fig):
    return fig.subfigs[1].axes


@pytest.mark.parametrize(("n_true", "n_gen"), [(3000, 2500), (2500, 3000)])
def test_spectra_are_those_of_both_series_cut_to_the_shorter(
    n_true, n_gen, tmp_path, missing_labels
):
    true, gen = _series(n_true), _series(n_gen, seed=1)
    fig = plot_generated(true, gen, dt=0.05, sigma=3.0, path=tmp_path / "g.png")
    assert (tmp_path / "g.png").stat().st_size > 1000
    assert missing_labels(fig) == []
    axes = _spectrum_axes(fig)
    assert len(axes) == 3
    freq = np.fft.rfftfreq(2500, d=0.05)[1:]
    for c, ax in enumerate(axes):
        data, model = ax.lines[:2]
        np.testing.assert_allclose(data.get_xdata(), freq)
        np.testing.assert_allclose(data.get_ydata(), _reference_spectrum(true[:2500], 3)[1:, c])
        np.testing.assert_allclose(model.get_ydata(), _reference_spectrum(gen[:2500], 3)[1:, c])
        assert ax.get_xlabel() == "frequency (cycles / time unit)"
        assert ax.get_ylabel() == "power (fraction of total)"
    assert _spectrum_axes(plot_generated(true, gen))[0].get_xlabel() == "frequency (cycles / step)"


def test_attractor_panels_share_ranges_and_are_labelled():
    true, gen = _series(), 2.5 * _series(seed=1)
    fig = plot_generated(true, gen, names=("x", "y", "z"), unit="z-scored")
    ax_true, ax_gen = fig.subfigs[0].axes[:2]
    for get in ("get_xlim", "get_ylim", "get_zlim"):
        assert getattr(ax_true, get)() == getattr(ax_gen, get)()
    assert ax_gen.get_xlim()[1] > 2.5 * 0.99  # the generated range, not the data's alone
    assert ax_true.get_zlabel() == "z (z-scored)"
    assert [ax.get_title() for ax in _spectrum_axes(fig)] == ["x", "y", "z"]


def test_a_collapse_is_said_in_words_and_does_not_stretch_the_spectra(figure_text):
    true = _series()
    collapsed = np.concatenate([true[:200], np.repeat(true[200:201], 2800, 0)])
    note = "the generated trajectory collapsed to a fixed point"
    fig = plot_generated(true, collapsed, note=note, title="demo")
    assert note in figure_text(fig)
    for c, ax in enumerate(_spectrum_axes(fig)):
        peak = _reference_spectrum(true, 3)[1:, c].max()
        assert ax.get_ylim()[0] >= peak * 1e-4 * (1 - 1e-9)


def test_a_diverged_generation_draws_the_data_alone(figure_text):
    gen = _series()
    gen[100:] = np.inf
    fig = plot_generated(_series(), gen)
    assert all(len(ax.lines) == 1 for ax in _spectrum_axes(fig))
    assert "generated: non-finite" in figure_text(fig)


def test_the_spectrum_row_says_which_channels_it_shows():
    fig = plot_generated(_series(d=5), _series(d=5, seed=1))
    assert fig.subfigs[1]._suptitle.get_text() == "power spectra of channels 0-2 of 5"
    fig = plot_generated(_series(d=2), _series(d=2, seed=1))
    assert fig.subfigs[1]._suptitle.get_text() == "power spectra"
    assert len(_spectrum_axes(fig)) == 2


def test_missing_data_count_as_no_power():
    true = _series()
    true[50:60, 0] = np.nan
    fig = plot_generated(true, _series(seed=1))
    assert np.isfinite(_spectrum_axes(fig)[0].lines[0].get_ydata()).all()


def test_bad_input_is_refused():
    x = _series()
    with pytest.raises(ValueError, match="same dims"):
        plot_generated(x, x[:, :2])
    with pytest.raises(ValueError, match="at least 4 steps"):
        plot_generated(x[:3], x)
    with pytest.raises(ValueError, match="dt must be > 0"):
        plot_generated(x, x, dt=0.0)
    with pytest.raises(ValueError, match="max_channels must be >= 1"):
        plot_generated(x, x, max_channels=0)


def test_without_a_note_the_third_panel_overlays_both_on_the_same_ranges(figure_text):
    true, gen = _series(), 2.5 * _series(seed=1)
    ax_true, ax_gen, ax_both = plot_generated(true, gen).subfigs[0].axes
    assert ax_both.name == "rectilinear" and len(ax_both.lines) == 2
    assert ax_both.get_xlim() == ax_true.get_xlim() and ax_both.get_ylim() == ax_gen.get_ylim()
    np.testing.assert_allclose(ax_both.lines[1].get_ydata(), gen[:, 1])
    fig = plot_generated(true, gen, note="collapsed")
    assert not fig.subfigs[0].axes[2].axison and "collapsed" in figure_text(fig)
