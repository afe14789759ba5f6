"""Latent panels: every dimension shown, or the title says which ones."""

import numpy as np
import pytest

from pyrodyn.plots import plot_latents


def _draws(d=16, t=30, s=20):
    return np.random.default_rng(0).standard_normal((s, t, d)).cumsum(1)


def test_with_bands_and_truth(lg_draws, tmp_path, missing_labels):
    z = lg_draws.latents["z"][:, 0]
    fig = plot_latents(z, true=lg_draws.extras["true_latent"][0], path=tmp_path / "z.png")
    assert (tmp_path / "z.png").stat().st_size > 1000
    assert sum(ax.has_data() for ax in fig.axes) >= 2
    assert missing_labels(fig) == [(i, "x") for i in range(len(fig.axes) - 1)]  # shared x axis
    assert fig.axes[-1].get_xlabel() == "time (steps)"


def test_a_truncated_plot_says_which_dims_it_shows():
    fig = plot_latents(_draws(16), title="trial 0")
    assert len(fig.axes) == 6
    assert fig._suptitle.get_text() == "trial 0; dims 0-5 of 16"
    assert [ax.get_ylabel() for ax in fig.axes] == [f"z{k}" for k in range(6)]
    fig = plot_latents(_draws(16), max_dims=None)
    assert len(fig.axes) == 16 and fig._suptitle is None  # all of them: nothing to say
    fig = plot_latents(_draws(4), title="all four")
    assert len(fig.axes) == 4 and fig._suptitle.get_text() == "all four"
    fig = plot_latents(_draws(16), dims=(3, 7))
    assert fig._suptitle.get_text() == "dims 3, 7 of 16"
    assert plot_latents(_draws(16), dims=[9])._suptitle.get_text() == "dim 9 of 16"


def test_panels_show_the_chosen_dims_with_their_truth():
    z = _draws(5)
    true = np.arange(30 * 5, dtype=float).reshape(30, 5)
    fig = plot_latents(z, true=true, dims=(1, 3))
    assert [ax.get_ylabel() for ax in fig.axes] == ["z1", "z3"]
    mean = next(ln for ln in fig.axes[1].lines if ln.get_label() == "posterior mean")
    np.testing.assert_allclose(mean.get_ydata(), z[:, :, 3].mean(0))
    truth = next(ln for ln in fig.axes[1].lines if ln.get_label() == "true")
    np.testing.assert_allclose(truth.get_ydata(), true[:, 3])


def test_the_time_axis_names_its_unit():
    times = np.linspace(0, 2.9, 30)
    assert plot_latents(_draws(2), times=times).axes[-1].get_xlabel() == (
        "time (the data's time unit)"
    )
    fig = plot_latents(_draws(2), times=times, time_unit="s")
    assert fig.axes[-1].get_xlabel() == "time (s)"
    np.testing.assert_allclose(fig.axes[0].lines[0].get_xdata(), times)


def test_bad_input_is_refused(lg_draws):
    z = lg_draws.latents["z"][:, 0]
    with pytest.raises(ValueError, match="draws, time, latent"):
        plot_latents(z[0])
    with pytest.raises(ValueError, match="level must lie"):
        plot_latents(z, level=1.0)
    with pytest.raises(ValueError, match=r"dims \[0, 16\] out of range for 16 latent dimensions"):
        plot_latents(_draws(16), dims=(0, 16))
    with pytest.raises(ValueError, match="max_dims must be >= 1 or None, got 0"):
        plot_latents(_draws(3), max_dims=0)
