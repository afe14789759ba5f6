"""SBC rank histograms: one labelled panel per coordinate, the rejected ones red and named."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgba

from pyrodyn.diagnostics.ranks import sbc_from_draws
from pyrodyn.plots import plot_sbc


def _result():
    rng = np.random.default_rng(0)
    truth = rng.standard_normal((300, 3))
    draws = rng.standard_normal((19, 300, 3))
    draws[..., 2] *= 0.3  # coordinate 2: a posterior far too narrow
    return sbc_from_draws(truth, draws, names=["z[0]", "z[1]", "z[2]"])


def test_rank_histograms(tmp_path, missing_labels, figure_text):
    result = _result()
    fig = plot_sbc(result, path=tmp_path / "sbc.png")
    assert (tmp_path / "sbc.png").stat().st_size > 1000
    drawn = [ax for ax in fig.axes if ax.axison]
    assert len(drawn) == 3 and missing_labels(fig) == []
    # worst first: the narrow coordinate is red and its title names the shape
    assert drawn[0].get_title().startswith("z[2]: p = ") and "too narrow" in drawn[0].get_title()
    red = [p for p in drawn[0].patches if p.get_edgecolor() == to_rgba("tab:red")]
    assert red, "the rejected coordinate's histogram is not red"
    assert "1 of 3 coordinates non-uniform" in figure_text(fig)
    # the histogram drawn is the ranks' histogram
    counts, _ = result.histogram()
    np.testing.assert_array_equal(red[0].get_data().values, counts[2])


def test_at_most_max_panels(tmp_path):
    fig = plot_sbc(_result(), max_panels=2)
    assert sum(ax.axison for ax in fig.axes) == 2
    with pytest.raises(ValueError, match="max_panels must be >= 1"):
        plot_sbc(_result(), max_panels=0)
