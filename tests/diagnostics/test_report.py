import json
import math

from pyrodyn.diagnostics.report import render_markdown, write_json


def test_markdown_and_json(tmp_path):
    summary = {
        "model": "M",
        "num_trials": 2,
        "importance": {
            "applies": True,
            "num_particles": 10,
            "iwae_mean": -1.0,
            "elbo_mean": -2.0,
            "khat_median": 0.5,
            "khat_max": math.inf,
            "khat_threshold": 0.7,
            "num_flagged": 1,
            "ess_mean": 3.0,
            "per_trial": [
                {"trial": 4, "khat": 0.9, "iwae": -1, "elbo": -2, "ess": 2.0, "flagged": True},
                {"trial": 5, "khat": 0.1, "iwae": -1, "elbo": -2, "ess": 9.0, "flagged": False},
            ],
        },
        "loo": {
            "x": {
                "elpd_loo": -3.0,
                "se": 1.0,
                "p_loo": 0.5,
                "khat_max": 0.2,
                "num_khat_above_threshold": 0,
            }
        },
        "ppc": {"x": {"kind": "count", "coverage": {"0.5": 0.5, "0.9": 0.91}}},
        "_private": {"skipped": True},
    }
    md = render_markdown(summary)
    assert "| 4 | 0.900 |" in md and "| 5 |" not in md
    assert "| x | count | 0.500 | 0.910 |" in md
    write_json(summary, tmp_path / "d.json")
    back = json.loads((tmp_path / "d.json").read_text())
    assert back["importance"]["khat_max"] == "inf"
    assert "_private" not in back


def test_loo_rows_name_their_estimator():
    loo = {
        "estimator": "psis_loo",
        "elpd_loo": -3.0,
        "se": 1.0,
        "p_loo": 0.5,
        "khat_max": 0.2,
        "num_khat_above_threshold": 0,
        "is_marginal": {
            "estimator": "is_marginal",
            "elpd_loo": -4.0,
            "se": 1.5,
            "khat_max": 0.9,
            "num_khat_above_threshold": 1,
        },
    }
    md = render_markdown({"model": "M", "loo": {"x": loo}})
    assert "| x | psis_loo | -3.000 | 1.000 | 0.500 | 0.200 | 0 |" in md
    assert "| x | is_marginal | -4.000 | 1.500 | - | 0.900 | 1 |" in md
    assert "az.loo(posterior.nc, var_name=modality)" in md
