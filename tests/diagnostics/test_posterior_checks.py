"""SBC and LFO as sections of a diagnose run: the rank-histogram shapes, and the reasons given
where they do not apply.

The shapes are checked on ranks built here with numpy from posteriors that are too narrow, too
wide or shifted against the truth (closed-form miscalibration), not with the library's ranks.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.diagnostics.lfo import LFOResult
from pyrodyn.diagnostics.posterior_checks import (
    lfo_applies,
    lfo_summary,
    rank_shape,
    run_lfo,
    run_sbc,
)
from pyrodyn.testing.linear_gaussian import LinearGaussianModel


def _ranks(scale: float, shift: float, n: int = 2000, draws: int = 49) -> np.ndarray:
    """Ranks of z* ~ N(0, 1) among draws from N(shift, scale^2): the exact posterior of a model
    with no data is the prior, so scale 1 and shift 0 are calibrated."""
    rng = np.random.default_rng(0)
    truth = rng.standard_normal(n)
    post = shift + scale * rng.standard_normal((draws, n))
    return (post < truth).sum(0)


@pytest.mark.parametrize(
    ("scale", "shift", "shape"),
    [
        (0.5, 0.0, "too narrow"),
        (2.0, 0.0, "too wide"),
        (1.0, -0.7, "biased low"),
        (1.0, 0.7, "biased high"),
    ],
)
def test_rank_shape_names_the_miscalibration(scale, shift, shape):
    assert rank_shape(_ranks(scale, shift), 49)["shape"] == shape


def test_rank_shape_moments_of_calibrated_ranks():
    got = rank_shape(_ranks(1.0, 0.0), 49)
    # uniform on {0..49}, normalised by (r + 1/2) / 50: mean 1/2, variance (50^2 - 1) / 12 / 50^2
    assert got["mean_rank"] == pytest.approx(0.5, abs=0.02)
    assert got["rank_var"] == pytest.approx((50**2 - 1) / 12 / 50**2, rel=0.05)


def test_sections_say_why_they_do_not_apply(weight, lg_batch):
    model = LinearGaussianModel(weight)
    summary, result = run_sbc(model, lg_batch, 20, 9)
    assert result is None and not summary["applies"]
    assert "does not declare a proper prior" in summary["reason"]
    assert run_sbc(model, lg_batch, 0)[0]["reason"] == "not run (0 simulations asked for)"
    assert run_lfo(model, None, missing_reason="no split")[0] == {
        "applies": False,
        "reason": "no split",
    }
    static = MultimodalBatch.from_tensors(
        {"x": torch.zeros(3, 4, dtype=torch.float64)}, static=True
    )
    assert "static" in run_lfo(model, static)[0]["reason"]
    assert run_lfo(model, lg_batch, num_origins=0)[0]["reason"] == "not run (0 origins asked for)"

    class NotElbo(LinearGaussianModel):
        is_elbo = False

    assert lfo_applies(model) is None
    why = lfo_applies(NotElbo(weight))
    assert "is_elbo=False" in why and "HasProperPrior" in why
    assert run_lfo(NotElbo(weight), lg_batch)[0]["reason"] == why


def test_lfo_summary_counts():
    khat = np.array([[0.2, 0.9, np.inf], [1.5, 0.3, 0.8]])
    result = LFOResult(
        origins=np.array([5, 6, 7]),
        horizon=1,
        elpd=np.array([[-1.0, -2.0, -3.0], [-4.0, -5.0, -6.0]]),
        khat=khat,
        refit=np.zeros((2, 3), dtype=bool),
        anchor=np.full((2, 3), 5),
        num_draws=50,
        threshold=0.7,
    )
    s = lfo_summary(result, "tail")
    assert s["num_evaluations"] == 6 and s["num_sequences"] == 2 and s["num_origins"] == 3
    # 0.9, 1.5 and 0.8 are above 0.7; inf (constant ratios) is not unreliable
    assert s["num_khat_above_threshold"] == 3 and s["unreliable_fraction"] == 0.5
    assert s["elpd_per_prediction"] == pytest.approx(-21.0 / 6)
    assert s["khat_per_origin_max"] == [1.5, 0.9, 0.8]
    assert s["khat_median"] == pytest.approx(np.median([0.2, 0.9, 1.5, 0.3, 0.8]))
    assert s["source"] == "tail"
