"""``fit.calibrate``: built from the config, run inside the fit's budget, kept in the run."""

from __future__ import annotations

import numpy as np
import pytest

from pyrodyn.app.calibrate import build_calibration
from pyrodyn.app.config import ConfigError, resolve
from pyrodyn.app.fitrun import fit_run
from pyrodyn.app.rundir import load_run
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.infer.selection import FreeRunScore

from .conftest import sine_mtf

SCORE = {"steps": 200, "burn_in": 10, "options": {"d_h": {"sigma": 2.0}}}


def test_fit_calibrate_keeps_the_best_factor_in_the_checkpoint(tmp_path):
    fit = {"steps": 6, "batch_size": 4, "calibrate": {"factors": [0.9, 1.1], **SCORE}}
    x, cfg = sine_mtf(tmp_path, 600, latent_dim=2, fit=fit)
    fit_run(cfg, tmp_path / "run")
    rows = np.genfromtxt(tmp_path / "run" / "calibration.csv", delimiter=",", names=True)
    # the grid 0.9, 1.0, 1.1, then one refinement round: the midpoints around the best
    assert rows["factor"][:3].tolist() == [0.9, 1.0, 1.1] and len(rows) == 5
    assert np.all(np.isfinite(rows["score"]))
    model = load_run(tmp_path / "run").model
    again = FreeRunScore(
        MultimodalDataset({"x": x}), "x", window=20, weights={"d_h": 1.0}, **SCORE
    )  # fmt: skip
    # the run directory holds the calibrated weights: rescoring them gives the minimum
    assert again(model) == pytest.approx(rows["score"].min(), rel=1e-6)


def test_fit_calibrate_time_comes_out_of_the_budget(tmp_path, monkeypatch):
    import pyrodyn.app.fitrun as fitrun
    from pyrodyn.infer.calibration import TimeScaleCalibration

    budgets = []
    real_fit = fitrun.fit

    def spy(*args, **kwargs):
        budgets.append(kwargs["max_time"])
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(fitrun, "fit", spy)
    # a probe of 0.25 s and 9 scores (7 factors, one refinement round): 2.25 s reserved
    monkeypatch.setattr(TimeScaleCalibration, "probe_seconds", lambda self, model: 0.25)
    fit = {"steps": 3, "batch_size": 4, "max_time": 60.0, "calibrate": {"steps": 300}}
    _, cfg = sine_mtf(tmp_path, 600, latent_dim=2, fit=fit)
    fit_run(cfg, tmp_path / "run")
    assert 57.0 < budgets[0] <= 60.0 - 2.25
    assert (tmp_path / "run" / "calibration.csv").exists()
    cfg["fit"]["max_time"] = 2.0
    with pytest.raises(ConfigError, match=r"fit.calibrate needs about 2.2 s, more than what"):
        fit_run(cfg, tmp_path / "run2")


def test_fit_calibrate_needs_dynamics_that_can_rescale(tmp_path, monkeypatch):
    from pyrodyn.dynamics.plrnn import ClippedShallowPLRNN

    def no_fold(self, f):
        raise NotImplementedError("ClippedShallowPLRNN cannot rescale its increment")

    monkeypatch.setattr(ClippedShallowPLRNN, "_fold_increment", no_fold)
    fit = {"steps": 2, "batch_size": 4, "calibrate": True}
    _, cfg = sine_mtf(tmp_path, 300, latent_dim=2, fit=fit)
    with pytest.raises(ConfigError, match=r"fit\.calibrate: ClippedShallowPLRNN cannot rescale"):
        fit_run(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoint.pt").exists()  # refused before training


def _cfg(tmp_path, calibrate):
    np.savez(tmp_path / "d.npz", g=np.random.default_rng(0).normal(size=(2, 50, 2)))
    return resolve(
        {
            "data": {
                "path": str(tmp_path / "d.npz"),
                "modalities": {"g": {"likelihood": {"type": "Gaussian"}}},
                "window": 10,
            },
            "model": {"type": "SVAE", "latent_dim": 2},
            "fit": {"calibrate": calibrate},
        }
    )


def test_build_calibration_defaults_and_off(tmp_path):
    train = MultimodalDataset({"g": np.zeros((2, 50, 2))})
    cal = build_calibration(_cfg(tmp_path, True), train, str(tmp_path))
    assert cal.factors == [0.99, 0.995, 1.0, 1.005, 1.01, 1.015, 1.02] and cal.refine == 1
    s = cal.score
    assert (s.steps, s.burn_in, s.modality, s.weights) == (50_000, 1000, "g", {"d_h": 1.0})
    assert s.options == {"d_h": {"sigma": 20.0}}
    assert cal.path == str(tmp_path / "calibration.csv")
    for off in (None, False):
        assert build_calibration(_cfg(tmp_path, off), train, None) is None


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"bogus": 1}, r"unknown keys \['bogus'\] in fit.calibrate; allowed: \['burn_in'"),
        ("yes", "fit.calibrate must be a mapping, true or null, got 'yes'"),
        ({"factors": 1.01}, "fit.calibrate: factors must be a list of numbers, got 1.01"),
        ({"factors": [0, 1.01]}, "fit.calibrate: the increment factor must be positive"),
        ({"refine": -1}, r"fit.calibrate: refine must be an integer >= 0, got -1"),
        ({"steps": 1}, "fit.calibrate: need steps >= 2"),
        ({"weights": {"pe": 1}}, "fit.calibrate: weights must name metrics"),
        ({"modality": "h"}, r"'h' is not a modality; have \['g'\]"),
    ],
)
def test_build_calibration_bad_specs(tmp_path, spec, match):
    train = MultimodalDataset({"g": np.zeros((2, 50, 2))})
    with pytest.raises(ConfigError, match=match):
        build_calibration(_cfg(tmp_path, spec), train, None)
