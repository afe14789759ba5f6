"""``pyrodyn evaluate`` on static runs: tiny fits on generated data, then probes/coherence/NLL."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import yaml

from pyrodyn.app.cli import main
from pyrodyn.app.evaluate import evaluate_run
from pyrodyn.app.rundir import load_run
from pyrodyn.app.static_evaluation import default_label, evaluate_static_run, static_splits


def _write_static(path, n=60, seed=0, labels=True, extra_label=None):
    """Two modalities showing one of three classes: ``a`` (4,) and ``b`` (2, 3)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    a = 2.0 * np.eye(4)[y] + 10.0 + 0.3 * rng.normal(size=(n, 4))
    b = np.repeat(np.eye(3)[y][:, None], 2, 1) + 0.3 * rng.normal(size=(n, 2, 3))
    arrays = {"a": a, "b": b}
    if labels:
        arrays["label"] = y
    if extra_label is not None:
        arrays[extra_label] = y
    np.savez(path, **arrays)
    return path


def _config(data_path, fusion="MMVM", **evaluate):
    return {
        "data": {
            "path": str(data_path),
            "static": True,
            "modalities": {
                "a": {"likelihood": {"type": "Gaussian"}},
                "b": {"likelihood": {"type": "Gaussian"}},
            },
            "valid_fraction": 0.25,
            "standardize": ["a"],
        },
        "model": {
            "type": "MultimodalVAE",
            "static": True,
            "decoder_hidden": [8],
            "encoders": {
                "a": {
                    "type": "StaticMLPEncoder",
                    "input_shape": [4],
                    "latent_dim": 2,
                    "hidden": [8],
                },
                "b": {
                    "type": "StaticMLPEncoder",
                    "input_shape": [2, 3],
                    "latent_dim": 2,
                    "hidden": [8],
                },
            },
            "fusion": {"type": fusion},
        },
        "fit": {"steps": 15, "lr": 1e-2, "batch_size": 16, "valid_every": 10},
        "evaluate": {"options": {"coherence": {"hidden": [8], "max_iter": 30}}, **evaluate},
    }


def _fit(tmp_path, name="run", data=None, **cfg_kw):
    data = data or _write_static(tmp_path / "static.npz")
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump(_config(data, **cfg_kw)))
    run = tmp_path / name
    assert main(["fit", str(cfg), "--out", str(run)]) == 0
    return run, data


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("static")
    run, data = _fit(tmp)
    return tmp, run, data


def _check_ranges(metrics):
    probes = metrics["probe_accuracy"]
    assert set(probes) == {"latent", "latent_a", "latent_b"}
    assert all(0.0 <= v <= 1.0 for v in probes.values())
    coh = metrics["coherence"]
    assert set(coh) == {"a->b", "b->a", "mean"}
    assert all(0.0 <= v <= 1.0 for v in coh.values())
    assert coh["mean"] == pytest.approx((coh["a->b"] + coh["b->a"]) / 2)
    rec = metrics["reconstruction_nll"]
    assert set(rec) == {"a", "b", "total"}
    assert all(math.isfinite(v) for v in rec.values())
    assert rec["total"] == pytest.approx(rec["a"] + rec["b"])


def test_cli_evaluates_the_held_out_split(fitted, capsys):
    _, run, _ = fitted
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    printed = capsys.readouterr().out
    assert "probe_accuracy = {latent: " in printed and "metrics.json" in printed
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) == {"probe_accuracy", "coherence", "reconstruction_nll", "evaluation"}
    _check_ranges(metrics)
    ev = metrics["evaluation"]
    assert ev["test_samples"] == 15 and ev["train_samples"] == 45
    assert ev["generated"] is None and "held-out split" in ev["samples"]
    assert ev["metrics"]["probe_accuracy"]["label"] == "label"
    assert ev["metrics"]["coherence"]["options"] == {"hidden": [8], "max_iter": 30}
    # the sequence defaults (d_stsp, d_h, pe) are listed as not applicable
    assert "needs sequences" in ev["metrics"]["d_stsp"]["skipped"]
    # the data file of the run itself: its held-out split again, same numbers
    again = evaluate_run(run, fitted[2], out=run / "m2.json")
    assert again["probe_accuracy"] == metrics["probe_accuracy"]
    assert again["reconstruction_nll"] == pytest.approx(metrics["reconstruction_nll"])


def test_other_data_file_is_scored_with_probes_fit_on_training_split(fitted):
    tmp, run, _ = fitted
    other = _write_static(tmp / "other.npz", n=30, seed=5)
    metrics = evaluate_static_run(run, other, out=tmp / "other.json")
    _check_ranges(metrics)
    ev = metrics["evaluation"]
    assert ev["test_samples"] == 30 and ev["train_samples"] == 45
    assert "--data scored" in ev["samples"]
    assert json.loads((tmp / "other.json").read_text())["evaluation"]["data"] == str(other)


def test_reconstruction_nll_in_data_units(fitted):
    from pyrodyn.metrics.probes import reconstruction_nll

    tmp, run, _ = fitted
    loaded = load_run(run)
    model, std = loaded.model, loaded.standardizer
    _, test, _ = static_splits(loaded.config, None, std)
    model_units = reconstruction_nll(model, test)
    metrics = evaluate_static_run(run, out=tmp / "units.json")
    # a Gaussian scored on (x - mean) / sd: the data-unit NLL adds sum(log sd) per sample
    shift = float(np.log(std.std["a"]).sum())
    assert metrics["reconstruction_nll"]["a"] == pytest.approx(model_units["a"] + shift, rel=1e-5)
    assert metrics["reconstruction_nll"]["b"] == pytest.approx(model_units["b"], rel=1e-5)
    assert abs(shift) > 0.1  # the check can fail: the data were scaled


def test_without_labels_reconstruction_still_works(tmp_path):
    data = _write_static(tmp_path / "nolabel.npz", labels=False)
    run, _ = _fit(tmp_path, data=data, fusion="ProductOfExperts")
    metrics = evaluate_run(run, None)
    assert metrics["probe_accuracy"] is None and metrics["coherence"] is None
    skipped = metrics["evaluation"]["metrics"]["probe_accuracy"]["skipped"]
    assert "no label* array" in skipped
    assert math.isfinite(metrics["reconstruction_nll"]["total"])
    # asked for explicitly, a probe without labels is an error
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["evaluate"]["metrics"] = ["probe_accuracy", "reconstruction_nll"]
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ValueError, match="cannot compute metric 'probe_accuracy': the data"):
        evaluate_run(run, None)


def test_bad_inputs(fitted, tmp_path):
    _, run, data = fitted
    # several label arrays and none named "label"
    two = _write_static(tmp_path / "two.npz", labels=False, extra_label="label_x")
    ds = static_splits(yaml.safe_load((run / "config.yaml").read_text()), two, None)[1]
    assert default_label(ds) == "label_x"
    np.savez(tmp_path / "three.npz", **dict(np.load(two)), label_y=np.zeros(60, dtype=int))
    with pytest.raises(ValueError, match=r"several label arrays \['label_x', 'label_y'\]"):
        evaluate_static_run(run, tmp_path / "three.npz", out=tmp_path / "m.json")
    # a label that the data lack
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["evaluate"]["options"]["probe_accuracy"] = {"label": "label_z"}
    bad_run = tmp_path / "bad_run"
    bad_run.mkdir()
    (bad_run / "config.yaml").write_text(yaml.safe_dump(cfg))
    (bad_run / "checkpoint.pt").write_bytes((run / "checkpoint.pt").read_bytes())
    with pytest.raises(ValueError, match="needs labels 'label_z'; the evaluation data hold"):
        evaluate_run(bad_run, None)
    cfg["evaluate"]["options"]["probe_accuracy"] = {"nope": 1}
    (bad_run / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ValueError, match=r"evaluate.options.probe_accuracy has unknown keys"):
        evaluate_run(bad_run, None)
    # no held-out split and no --data
    cfg["evaluate"]["options"].pop("probe_accuracy")
    cfg["data"]["valid_fraction"] = 0.0
    (bad_run / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ValueError, match="no held-out split"):
        evaluate_run(bad_run, None)
    cfg["data"]["path"] = str(tmp_path / "moved.npz")
    (bad_run / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(FileNotFoundError, match="pass --data"):
        evaluate_run(bad_run, None)
    # the data file moved: --data alone, split in halves by the metrics
    halves = evaluate_run(bad_run, data, out=tmp_path / "h.json")
    assert halves["evaluation"]["train_samples"] is None
    assert "halves" in halves["evaluation"]["samples"]


def test_sequence_run_without_data_is_an_error(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "seq.npz"
    np.savez(path, g=rng.normal(size=(4, 20, 2)))
    cfg = {
        "data": {
            "path": str(path),
            "modalities": {"g": {"likelihood": {"type": "Gaussian"}}},
            "valid_fraction": 0,
        },
        "model": {"type": "SVAE", "latent_dim": 2},
        "fit": {"steps": 1, "batch_size": 2},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["fit", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "r")]) == 0
    with pytest.raises(ValueError, match="sequence run needs --data"):
        evaluate_run(tmp_path / "r", None)
    with pytest.raises(ValueError, match=r"is a sequence run \(SVAE is not static\)"):
        evaluate_static_run(tmp_path / "r", path)
    torch.manual_seed(0)  # keeps the generator state of the suite deterministic after a fit
