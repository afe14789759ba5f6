"""Verdicts: on a linear-Gaussian model with a known exact posterior, and on hand-made summaries.

The references: the exact posterior of :class:`LinearGaussianModel` (closed form) is calibrated
by construction, its guide with the standard deviation halved is too narrow; the summaries below
spell out the numbers each verdict reads.
"""

from __future__ import annotations

import numpy as np
import pytest

from pyrodyn.diagnostics import posterior_checks
from pyrodyn.diagnostics.diagnose import diagnose
from pyrodyn.diagnostics.verdicts import (
    FAIL,
    NOT_APPLICABLE,
    PASS,
    forecast_verdict,
    importance_verdict,
    replication_verdict,
    verdicts,
)
from pyrodyn.models.capabilities import HasProperPrior
from pyrodyn.testing.linear_gaussian import LinearGaussianModel


class _Simulable(LinearGaussianModel, HasProperPrior):
    """The linear-Gaussian model declares its N(0, I) prior proper: SBC applies."""


def _diagnose(model, batch, out, **kw):
    return diagnose(model, batch, out, num_samples=40, figures=False, sbc_draws=19, **kw)


def test_exact_posterior_passes_sbc_and_a_narrow_guide_fails_it(weight, lg_batch, tmp_path):
    exact = _diagnose(_Simulable(weight, noise=0.5), lg_batch, tmp_path / "exact", seed=1)
    v = exact["verdicts"][0]
    assert v["question"] == "Is the posterior calibrated?"
    assert v["status"] == PASS, v["finding"]
    assert v["finding"].startswith("Yes:") and "in all 2 latent coordinates" in v["finding"]
    narrow = _diagnose(
        _Simulable(weight, noise=0.5, guide_scale=0.5), lg_batch, tmp_path / "narrow", seed=1
    )
    v = narrow["verdicts"][0]
    assert v["status"] == FAIL
    assert "too narrow: z[0], z[1]" in v["finding"]
    assert any("guide_family: structured" in a for a in v["advice"])
    md = (tmp_path / "narrow" / "diagnostics.md").read_text()
    assert "### 1. Is the posterior calibrated? **fail**" in md and "What to try:" in md


def test_sbc_verdict_text_when_the_uniformity_tests_reject(weight, lg_batch, tmp_path, monkeypatch):
    real = posterior_checks.sbc

    def rejected(*args, **kw):
        result = real(*args, **kw)
        result.p_values = np.full_like(result.p_values, 1e-9)
        return result

    monkeypatch.setattr(posterior_checks, "sbc", rejected)
    summary = _diagnose(_Simulable(weight, noise=0.5), lg_batch, tmp_path)
    v = summary["verdicts"][0]
    assert v["status"] == FAIL
    assert (
        "the ranks are not uniform in 2 of 2 latent coordinates (smallest p = 1.0e-09)"
        in (v["finding"])
    )
    assert any("--sbc-sims 1000" in a for a in v["advice"])
    md = (tmp_path / "diagnostics.md").read_text()
    assert "| Is the posterior calibrated? | simulation-based calibration | **fail** |" in md


def test_lfo_runs_on_held_out_data_and_sbc_needs_a_declared_prior(weight, lg_batch, tmp_path):
    model = LinearGaussianModel(weight, noise=0.5)
    summary = _diagnose(model, lg_batch, tmp_path, held_out=lg_batch, lfo_origins=2)
    sbc_v, lfo_v = summary["verdicts"][:2]
    assert sbc_v["status"] == NOT_APPLICABLE and "HasProperPrior" in sbc_v["finding"]
    # the guide is the exact posterior of every step: the LFO weights are near-uniform
    assert lfo_v["status"] == PASS, lfo_v["finding"]
    assert summary["lfo"]["num_origins"] == 2
    assert summary["lfo"]["num_sequences"] == 4  # LFO_SEQUENCES of the 12 held-out trials


def test_too_few_draws_for_psis_is_a_clear_error(weight, lg_batch, tmp_path):
    with pytest.raises(ValueError, match=r"K\) = 24 draws per trial are too few for PSIS"):
        diagnose(LinearGaussianModel(weight), lg_batch, tmp_path, num_samples=24)


def _ppc(kind="continuous", cov=(0.5, 0.9), p_mean=0.5, p_sd=0.5, **extra):
    return {
        "kind": kind,
        "coverage": {"0.5": cov[0], "0.9": cov[1]},
        "p_mean": p_mean,
        "p_sd": p_sd,
        **extra,
    }


def test_replication_verdict_names_the_modality_and_the_likelihood_to_try():
    counts = {"value": [0, 1, 2, 3], "observed": [50, 20, 10, 20], "expected": [40, 35, 20, 5]}
    summary = {
        "ppc": {
            "spikes": _ppc("count", (0.35, 0.70), p_sd=0.0, counts=counts),
            "lfp": _ppc(obs_mean=0.0, obs_sd=1.0, rep_mean=0.01, rep_sd=1.0),
        },
        "files": ["ppc.png"],
    }
    v = replication_verdict(summary)
    assert v["status"] == FAIL
    assert v["finding"].startswith("Not in 1 of 2 modalities: spikes (count):")
    assert "90% intervals cover 0.70" in v["finding"] and "lfp" not in v["finding"]
    # observed: mean 1, variance 0.5 + 0.1 + 0.8 = 1.4 (sd 1.18); expected: mean 0.9, variance
    # 0.4 * 0.81 + 0.35 * 0.01 + 0.2 * 1.21 + 0.05 * 4.41 = 0.79 (sd 0.889)
    assert "the data vary more than replications (sd 1.18 against 0.889" in v["finding"]
    assert any("NegativeBinomial" in a for a in v["advice"])
    assert v["figures"] == ["ppc.png"]


def test_replication_verdict_ignores_negligible_but_significant_differences():
    # thousands of entries make a 1% offset significant; it is not worth a failed verdict
    lfp = _ppc(p_mean=0.0, p_sd=1.0, obs_mean=0.0, obs_sd=1.0, rep_mean=0.01, rep_sd=1.02)
    assert replication_verdict({"ppc": {"lfp": lfp}})["status"] == PASS
    wide = _ppc(cov=(0.8, 0.99), obs_mean=0.0, obs_sd=1.0, rep_mean=0.0, rep_sd=1.6, p_sd=1.0)
    v = replication_verdict({"ppc": {"lfp": wide}})
    assert v["status"] == FAIL and "the data vary less than replications" in v["finding"]
    assert any("wider than the data" in a for a in v["advice"])


def _importance(flagged, **extra):
    return {
        "applies": True,
        "num_trials": 64,
        "num_flagged": flagged,
        "khat_median": 8.0,
        "khat_threshold": 0.7,
        "ess_mean": 1.0,
        "num_particles": 100,
        **extra,
    }


def test_importance_verdict():
    v = importance_verdict({"importance": _importance(64), "window": 200})
    assert v["status"] == FAIL
    assert v["finding"].startswith("No: k-hat > 0.7 in 64 of 64 windows (median 8.00")
    assert any("--amortisation-steps 100" in a for a in v["advice"])
    structured = {"importance": _importance(3, amortisation_gap_mean=12.5)}
    structured["guide_family"] = "StructuredMarkov"
    advice = importance_verdict(structured)["advice"]
    assert not any("guide_family: structured" in a for a in advice)  # already in use
    assert any("12.5 nats per trial" in a for a in advice)
    assert importance_verdict({"importance": _importance(0)})["status"] == PASS
    na = importance_verdict({"importance": {"applies": False, "reason": "MTF is not an ELBO"}})
    assert na["status"] == NOT_APPLICABLE and na["finding"] == "MTF is not an ELBO"


def _lfo(unreliable):
    return {
        "applies": True,
        "horizon": 1,
        "num_origins": 20,
        "num_sequences": 4,
        "elpd": -100.0,
        "elpd_per_prediction": -1.25,
        "num_khat_above_threshold": unreliable,
        "num_evaluations": 80,
        "unreliable_fraction": unreliable / 80,
        "khat_threshold": 0.7,
        "khat_median": 0.4,
    }


def test_forecast_verdict():
    v = forecast_verdict({"lfo": _lfo(40)})
    assert v["status"] == FAIL and v["finding"].startswith("Cannot tell:")
    assert "in 40 of 80 predictions" in v["finding"]
    ok = forecast_verdict({"lfo": _lfo(8)})  # 10 %: still reliable enough
    assert ok["status"] == PASS and "-1.25 per prediction" in ok["finding"]


def test_an_empty_summary_gives_four_verdicts_that_do_not_apply():
    found = verdicts({})
    assert [v["status"] for v in found] == [NOT_APPLICABLE] * 4
