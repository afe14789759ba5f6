"""Leave-future-out figure: elpd and k-hat per origin, labelled, unreliable origins marked."""

from __future__ import annotations

import numpy as np

from pyrodyn.diagnostics.lfo import LFOResult
from pyrodyn.plots import plot_lfo


def test_elpd_and_khat_per_origin(tmp_path, missing_labels, figure_text):
    result = LFOResult(
        origins=np.array([10, 12, 14]),
        horizon=1,
        elpd=np.array([[-1.0, -2.0, -1.5], [-0.5, -1.0, -3.0]]),
        khat=np.array([[0.2, 0.9, np.inf], [0.4, 0.3, 1.2]]),
        refit=np.array([[True, True, False], [True, False, True]]),
        anchor=np.array([[10, 12, 12], [10, 10, 14]]),
        num_draws=50,
        threshold=0.7,
    )
    fig = plot_lfo(result, path=tmp_path / "lfo.png")
    assert (tmp_path / "lfo.png").stat().st_size > 1000
    assert missing_labels(fig) == []
    ax_e, ax_k = fig.axes
    mean = ax_e.get_lines()[-1]
    np.testing.assert_allclose(mean.get_ydata(), [-0.75, -1.5, -2.25])
    crosses = next(c for c in ax_k.collections if c.get_label() == "> 0.7")
    np.testing.assert_allclose(sorted(crosses.get_offsets()[:, 1]), [0.9, 1.2])
    assert "elpd -9.0 nats" in figure_text(fig)
