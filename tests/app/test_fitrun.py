from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from pyrodyn.app.fitrun import fit_run
from pyrodyn.app.rundir import load_run
from pyrodyn.data.dataset import MultimodalDataset

from .conftest import sine_mtf


def test_fit_select_keeps_best_free_run(tmp_path):
    from pyrodyn.infer.checkpoint import load_checkpoint
    from pyrodyn.infer.selection import FreeRunScore

    fit = {"steps": 6, "batch_size": 4, "select": {"every": 2, "steps": 200, "burn_in": 10}}
    x, cfg = sine_mtf(tmp_path, 600, latent_dim=2, fit=fit)
    fit_run(cfg, tmp_path / "run")
    rows = np.genfromtxt(tmp_path / "run" / "selection.csv", delimiter=",", names=True)
    assert rows["step"].tolist() == [2, 4, 6] and np.all(rows["score"] >= 0)
    assert len(set(rows["score"].tolist())) == 3  # the weights changed between scorings
    model = load_run(tmp_path / "run").model
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 6
    # the run directory holds the best-scoring weights: rescoring them gives the minimum
    again = FreeRunScore(MultimodalDataset({"x": x}), "x", steps=200, burn_in=10, window=20)
    assert again(model) == pytest.approx(np.nanmin(rows["score"]), rel=1e-6)
    cfg["fit"]["select"] = {"every": 2, "bogus": 1}
    with pytest.raises(ValueError, match=r"unknown keys \['bogus'\] in fit.select"):
        fit_run(cfg, tmp_path / "run2")


def test_fit_select_on_expected_ordinal_codes(tmp_path):
    """A recording without a continuous channel selects on the expected codes of its free run."""
    from pyrodyn.infer.selection import FreeRunScore

    opts = {"d_stsp": {"bin_range": "minmax"}}  # codes are not centred: ±2 sd around 0 misses them
    fit = {
        "steps": 4,
        "batch_size": 4,
        "select": {"every": 2, "steps": 150, "burn_in": 10, "prediction": "mean", "options": opts},
    }
    x, cfg = sine_mtf(tmp_path, 400, latent_dim=2, fit=fit)
    codes = np.clip(np.round(2 * x + 3), 1, 5).astype(np.int64)  # 2 channels, codes 1..5
    np.savez(tmp_path / "d.npz", o=codes)
    cfg["data"]["modalities"] = {"o": {"likelihood": {"type": "Ordinal", "num_categories": 5}}}
    fit_run(cfg, tmp_path / "run")
    rows = np.genfromtxt(tmp_path / "run" / "selection.csv", delimiter=",", names=True)
    assert rows["step"].tolist() == [2, 4] and np.all(np.isfinite(rows["score"]))
    model = load_run(tmp_path / "run").model
    score = FreeRunScore(
        MultimodalDataset({"o": codes.astype(np.float32)}),
        "o",
        steps=150,
        burn_in=10,
        window=20,
        prediction="mean",
        options=opts,
    )
    assert score(model) == pytest.approx(np.nanmin(rows["score"]), rel=1e-6)
    mean = model.generate(150, init=score.init, burn_in=10, prediction="mean")["o"]
    assert not torch.equal(mean, mean.round())  # expected codes, not the modes


def _mtf_config(tmp_path, alpha):
    fit = {"steps": 8, "batch_size": 4, "progress": False, "schedules": {"alpha": alpha}}
    _, cfg = sine_mtf(tmp_path, 300, latent_dim=3, fit=fit, forcing_dim=2)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_pyrodyn_fit_with_adaptive_alpha(tmp_path, capsys):
    from pyrodyn.app.cli import main
    from pyrodyn.infer.history import read_history

    spec = {"type": "adaptive", "gamma": 0.6, "initial": 1.0, "every": 3, "batch_size": 4}
    cfg = _mtf_config(tmp_path, spec)
    assert main(["fit", str(cfg), "--out", str(tmp_path / "run")]) == 0
    alpha = [r["schedule.alpha"] for r in read_history(tmp_path / "run" / "history.csv")]
    # updates after steps 3 and 6: alpha >= 0.6 * 1.0, then >= 0.6 * that
    assert alpha[:3] == [1.0, 1.0, 1.0] and len(set(alpha[3:6])) == 1 and len(alpha) == 8
    assert 0.6 <= alpha[3] < 1.0 and 0.6 * alpha[3] <= alpha[6] and alpha[6] == alpha[7]


@pytest.mark.parametrize(
    ("alpha", "message"),
    [
        (
            {"type": "adaptive", "gama": 0.9},
            r"unknown keys \['gama'\] in fit.schedules.alpha; allowed: \['type', 'gamma', "
            r"'initial', 'every', 'batch_size', 'window'\]",
        ),
        ({"type": "adaptive", "gamma": 1.5}, r"fit.schedules.alpha: gamma must lie in \(0, 1\]"),
        ({"type": "adaptive", "every": 0}, "fit.schedules.alpha: every must be an int >= 1"),
    ],
)
def test_adaptive_alpha_bad_config(tmp_path, alpha, message):
    from pyrodyn.app.config import load_yaml
    from pyrodyn.exceptions import ConfigError

    cfg = load_yaml(_mtf_config(tmp_path, alpha))
    with pytest.raises(ConfigError, match=message):
        fit_run(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_adaptive_only_for_alpha_and_one_process(tmp_path):
    from pyrodyn.app.assemble import build_adaptive_forcing, build_fit_kwargs
    from pyrodyn.app.config import load_yaml, resolve
    from pyrodyn.exceptions import ConfigError

    cfg = load_yaml(_mtf_config(tmp_path, 1.0))
    cfg["fit"]["schedules"]["fusion_alpha"] = {"type": "adaptive"}
    with pytest.raises(ConfigError, match=r"may only be used for fit\.schedules\.alpha"):
        fit_run(cfg, tmp_path / "run")
    cfg = resolve(load_yaml(_mtf_config(tmp_path, {"type": "adaptive"})))
    cfg["fit"]["devices"] = 2
    with pytest.raises(ConfigError, match=r"single-process fits only; set fit\.devices: 1"):
        build_adaptive_forcing(cfg, None, build_fit_kwargs(cfg)["schedules"])


def test_fit_init_ridge_starts_the_fit_from_the_data(tmp_path):
    fit = {"steps": 2, "batch_size": 4, "init": {"type": "ridge", "encoder_steps": 20}}
    _, cfg = sine_mtf(tmp_path, 600, latent_dim=2, fit=fit)
    _, resolved = fit_run(cfg, tmp_path / "run")
    assert resolved["fit"]["init"] == {"type": "ridge", "encoder_steps": 20}
    # two small steps after the init: the Gaussian read-out is still about the identity
    head = load_run(tmp_path / "run").model.decoders["x"].heads["loc"]
    torch.testing.assert_close(head.weight, torch.eye(2), atol=0.05, rtol=0)
    report = json.loads((tmp_path / "run" / "init.json").read_text())
    assert report["modality"] == "x" and len(report["residual"]) == 2 and report["seconds"] > 0
    assert "draw_scores" not in report  # one draw: nothing to choose among


def test_fit_init_draws_are_scored_by_d_stsp_plus_d_h():
    from pyrodyn.app.assemble import build_init, ridge_draw_score
    from pyrodyn.metrics import d_h, d_stsp

    rng = np.random.default_rng(0)
    x, g = rng.normal(size=(5000, 3)), rng.normal(size=(5000, 3)) * 1.1
    expected = d_stsp(x, g, n_bins=10, bin_range="legacy") + d_h(x, g, sigma=1.0)
    assert ridge_draw_score(x, g) == pytest.approx(expected)
    assert ridge_draw_score(x[:200], g[:200]) == pytest.approx(
        d_stsp(x[:200], g[:200]) + d_h(x[:200], g[:200], sigma=1.0)
    )
    wide, wide_gen = rng.normal(size=(3000, 10)), rng.normal(size=(3000, 10))  # 10 dims: GMM
    expected = d_stsp(wide, wide_gen, method="gmm") + d_h(wide, wide_gen, sigma=1.0)
    assert ridge_draw_score(wide, wide_gen) == pytest.approx(expected)
    base = {"seed": 3, "model": {"type": "MTF"}}
    init = build_init({**base, "fit": {"init": {"type": "ridge", "draws": 4}}})
    assert init.draws == 4 and init.score is ridge_draw_score and init.seed == 3
    assert build_init({**base, "fit": {"init": {"type": "ridge"}}}).score is None


def test_init_report_is_plain_json_with_null_for_non_finite_numbers():
    from pyrodyn.app.outputs import json_safe as _json_safe

    report = {"a": torch.tensor(0.5), "scores": [1.0, float("inf"), np.float64("nan")], "m": "x"}
    assert _json_safe(report) == {"a": 0.5, "scores": [1.0, None, None], "m": "x"}
    json.dumps(_json_safe(report), allow_nan=False)  # strict JSON


@pytest.mark.parametrize(
    ("init", "message"),
    [
        ({"type": "pca"}, r"fit.init must be null or a mapping with type one of \['ridge'\]"),
        ("ridge", r"fit.init must be null or a mapping with type one of \['ridge'\], got 'ridge'"),
        ({"type": "ridge", "smooth": 4}, r"fit.init: smooth must be 1 or an odd window"),
        ({"type": "ridge", "bogus": 1}, r"fit.init: .*unexpected keyword argument 'bogus'"),
        ({"type": "ridge", "score": "d_h"}, r"fit.init.score is not a YAML option"),
        ({"type": "ridge", "draws": 0}, r"fit.init: draws must be >= 1 and score_steps >= 100"),
    ],
)
def test_fit_init_bad_config(tmp_path, init, message):
    from pyrodyn.exceptions import ConfigError

    _, cfg = sine_mtf(tmp_path, 200, latent_dim=2, fit={"steps": 1, "init": init})
    with pytest.raises(ConfigError, match=message):
        fit_run(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_fit_init_is_for_mtf_and_counts_against_the_time_budget(tmp_path):
    from pyrodyn.exceptions import ConfigError

    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).normal(size=(50, 2)))
    cfg = {
        "data": {
            "path": str(tmp_path / "d.npz"),
            "static": True,
            "modalities": {"x": {"likelihood": {"type": "Gaussian"}}},
        },
        "model": {"type": "SVAE", "latent_dim": 2},
        "fit": {"steps": 1, "init": {"type": "ridge"}},
    }
    with pytest.raises(ConfigError, match=r"fit.init: ridge initialises MTF models; model.type"):
        fit_run(cfg, tmp_path / "svae")
    fit = {"steps": 5, "max_time": 1e-4, "init": {"type": "ridge", "encoder_steps": 5}}
    _, cfg = sine_mtf(tmp_path, 300, latent_dim=2, fit=fit)
    with pytest.raises(ConfigError, match=r"fit.init took .* s, all of fit.max_time \(0.0001 s\)"):
        fit_run(cfg, tmp_path / "slow")
