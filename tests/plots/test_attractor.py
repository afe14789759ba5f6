"""True versus generated attractor panels: shared ranges, labelled axes, the note in words."""

import numpy as np
import pytest

from pyrodyn.plots import plot_attractor
from pyrodyn.plots.attractor import MAX_POINTS


def _loop(n=500, scale=1.0, shift=0.0):
    t = np.linspace(0, 20, n)
    return scale * np.stack([np.sin(t), np.cos(t), np.sin(2 * t)], 1) + shift


def _limits(ax):
    out = [ax.get_xlim(), ax.get_ylim()]
    return [*out, ax.get_zlim()] if hasattr(ax, "get_zlim") else out


def test_both_panels_share_the_range_of_both_trajectories(tmp_path):
    true, gen = _loop(), _loop(scale=2.0, shift=1.0)
    fig = plot_attractor(true, gen, path=tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 1000
    ax_true, ax_gen = fig.axes[:2]
    assert ax_true.name == ax_gen.name == "3d"
    np.testing.assert_allclose(_limits(ax_true), _limits(ax_gen))
    # the union of both ranges (numpy's), padded by 5% of the span
    lo = np.minimum(true.min(0), gen.min(0))
    hi = np.maximum(true.max(0), gen.max(0))
    span = hi - lo
    np.testing.assert_allclose(
        _limits(ax_true), np.stack([lo - 0.05 * span, hi + 0.05 * span], 1), rtol=1e-12
    )


def test_every_axis_is_labelled_with_names_and_unit(missing_labels):
    fig = plot_attractor(_loop(), _loop(), names=("x", "y", "z"), unit="z-scored")
    assert missing_labels(fig) == []
    ax = fig.axes[1]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_zlabel()) == (
        "x (z-scored)",
        "y (z-scored)",
        "z (z-scored)",
    )
    fig = plot_attractor(_loop(), _loop(), dims=(2, 0))
    assert [fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()] == ["x2", "x0"]
    assert fig.axes[0].name == "rectilinear"


def test_one_dimension_is_a_series_against_the_step(missing_labels):
    x = _loop()[:, :1]
    fig = plot_attractor(x, 3 * x[:300])
    assert missing_labels(fig) == []
    assert fig.axes[0].get_xlabel() == "time (steps)"
    assert fig.axes[0].get_ylim() == fig.axes[1].get_ylim()
    assert fig.axes[1].get_ylim()[1] > 3 * x.max()


def test_the_note_is_shown_in_words(figure_text):
    collapsed = np.zeros((400, 3))
    fig = plot_attractor(_loop(), collapsed, note="the generated trajectory collapsed", title="t")
    assert "the generated trajectory collapsed" in figure_text(fig)
    # the fixed point shows as the marked last state
    (end,) = [ln for ln in fig.axes[1].lines if ln.get_label() == "last state"]
    np.testing.assert_allclose(np.ravel(end.get_data_3d()), 0.0)


def test_non_finite_steps_are_left_out_of_the_ranges():
    gen = _loop()
    gen[100:] = np.nan
    fig = plot_attractor(_loop(), gen)
    assert np.isfinite(_limits(fig.axes[1])).all()


def test_at_most_max_points_are_drawn():
    long = np.tile(_loop(), (MAX_POINTS // 500 + 2, 1))
    fig = plot_attractor(long, long)
    assert len(fig.axes[0].lines[0].get_data_3d()[0]) == MAX_POINTS


def test_bad_input_is_refused():
    x = _loop()
    with pytest.raises(ValueError, match="same dims"):
        plot_attractor(x, x[:, :2])
    with pytest.raises(ValueError, match="out of range"):
        plot_attractor(x, x, dims=(0, 5))
    with pytest.raises(ValueError, match=r"must be \(time, dims\)"):
        plot_attractor(x[None], x[None])
    with pytest.raises(ValueError, match="names has 2 entries for 3-dimensional"):
        plot_attractor(x, x, names=("a", "b"))
    with pytest.raises(ValueError, match="no finite values"):
        plot_attractor(np.full((5, 3), np.nan), np.full((5, 3), np.inf))
