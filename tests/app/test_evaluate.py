"""The evaluator's declared table: which capability supplies each metric, and the skip reasons."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from pyrodyn.app.evaluate import SUPPLIES, evaluate_run, skip_reason
from pyrodyn.app.fitrun import fit_run
from pyrodyn.metrics import get_metric, list_metrics
from pyrodyn.models.capabilities import (
    ForecastsAhead,
    ForecastsFromContext,
    Generates,
    HasInstanceCode,
    Imputes,
)
from pyrodyn.testing.linear_gaussian import LinearGaussianModel


class _Context(LinearGaussianModel, ForecastsFromContext):
    def forecast(self, batch, times=None, **options):
        return {}


def _plain():
    return LinearGaussianModel(torch.randn(2, 2, dtype=torch.float64), noise=0.5)


def test_registry_declares_what_metrics_call():
    assert get_metric("d_stsp").per_modality and not get_metric("d_h").per_modality
    assert get_metric("coherence").requires == (Imputes,)
    assert get_metric("reconstruction_nll").requires == (Imputes,)
    assert get_metric("forecast_nmse").requires == (ForecastsFromContext,)
    assert get_metric("code_probe_r2").requires == (HasInstanceCode,)
    assert SUPPLIES[("x_true", "x_gen")] is Generates
    assert SUPPLIES[("x_true", "forecasts")] is ForecastsAhead
    # every metric evaluate can supply has a row in the table
    supplied = [n for n in list_metrics() if get_metric(n).needs in SUPPLIES]
    assert {"d_stsp", "d_h", "pe", "forecast_nmse", "probe_accuracy"} <= set(supplied)


def test_skip_reasons_name_the_model_and_the_capability():
    model = _plain()
    reason = skip_reason(model, get_metric("d_h"))
    assert reason == "LinearGaussianModel does not declare the Generates capability"
    assert "ForecastsAhead capability" in skip_reason(model, get_metric("pe"))
    assert "use forecast_nmse" not in skip_reason(model, get_metric("pe"))
    ladid_like = _Context(torch.randn(2, 2, dtype=torch.float64), noise=0.5)
    assert "(ForecastsFromContext): use forecast_nmse" in skip_reason(ladid_like, get_metric("pe"))
    assert skip_reason(ladid_like, get_metric("forecast_nmse")) is None
    assert "HasInstanceCode" in skip_reason(ladid_like, get_metric("code_probe_r2"))
    with pytest.raises(ValueError, match=r"evaluate cannot supply the inputs \['step'\]"):
        skip_reason(model, get_metric("lyapunov"))


@pytest.fixture(scope="module")
def svae_run(tmp_path_factory):
    """A fitted SVAE: it generates and forecasts, but has no context forecasts or instance code."""
    root = tmp_path_factory.mktemp("eval")
    rng = np.random.default_rng(0)
    np.savez(root / "d.npz", g=rng.normal(size=(4, 16, 2)))
    cfg = {
        "data": {
            "path": str(root / "d.npz"),
            "modalities": {"g": {"likelihood": {"type": "Gaussian"}}},
            "valid_fraction": 0,
        },
        "model": {"type": "SVAE", "latent_dim": 2},
        "fit": {"steps": 2, "batch_size": 2, "progress": False},
        "evaluate": {"steps": 30, "pe_steps": 2, "max_points": 20},
    }
    fit_run(cfg, root / "run")
    torch.manual_seed(0)
    return root


def test_skipped_metrics_are_null_with_the_reason(svae_run, tmp_path):
    root = svae_run
    cfg_path = root / "run" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["evaluate"]["metrics"] = ["d_h", "forecast_nmse"]
    cfg_path.write_text(yaml.safe_dump(cfg))
    metrics = evaluate_run(root / "run", root / "d.npz", out=tmp_path / "m.json")
    assert isinstance(metrics["d_h"], float) and metrics["forecast_nmse"] is None
    reason = metrics["evaluation"]["metrics"]["forecast_nmse"]["skipped"]
    assert reason == "SVAE does not declare the ForecastsFromContext capability"
    assert json.loads((tmp_path / "m.json").read_text())["forecast_nmse"] is None
    # when no configured metric applies, evaluate is an error naming model and capabilities
    cfg["evaluate"]["metrics"] = ["forecast_nmse", "code_probe_r2"]
    cfg_path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(
        TypeError,
        match=r"SVAE cannot be evaluated with evaluate.metrics \['forecast_nmse', 'code_probe_r2'\]"
        r": forecast_nmse: SVAE does not declare the ForecastsFromContext capability; "
        r"code_probe_r2: .*HasInstanceCode",
    ):
        evaluate_run(root / "run", root / "d.npz", out=tmp_path / "m.json")


def test_evaluate_draws_the_generated_figure(svae_run, tmp_path, caplog):
    root = svae_run
    cfg_path = root / "run" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["evaluate"]["metrics"] = ["d_h"]
    cfg_path.write_text(yaml.safe_dump(cfg))
    figure = root / "run" / "generated.png"
    figure.unlink(missing_ok=True)
    with caplog.at_level("WARNING", logger="pyrodyn.app.evaluate"):
        evaluate_run(root / "run", root / "d.npz", out=tmp_path / "m.json")
    assert "generated.png skipped" not in caplog.text
    assert figure.stat().st_size > 1000
