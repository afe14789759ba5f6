from __future__ import annotations

import numpy as np
import pytest
import torch

from pyrodyn.config import ConfigError, resolve
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.run import build_likelihoods, init_batch, load_run, prepare_data


def _cfg(path, **mods):
    return resolve(
        {
            "data": {
                "path": str(path),
                "modalities": mods
                or {
                    "g": {"likelihood": {"type": "Gaussian"}},
                    "o": {"likelihood": {"type": "Ordinal", "num_categories": 4}},
                    "c": {"likelihood": {"type": "Categorical", "num_categories": 3}},
                },
                "window": 10,
                "valid_fraction": 0.25,
                "standardize": ["g"],
            },
            "model": {"type": "SVAE", "latent_dim": 2},
        }
    )


@pytest.fixture
def npz(tmp_path):
    rng = np.random.default_rng(0)
    p = tmp_path / "d.npz"
    np.savez(
        p,
        g=rng.normal(3.0, 2.0, size=(4, 40, 2)),
        o=rng.integers(1, 5, size=(4, 40, 5)),
        c=rng.integers(0, 3, size=(4, 40, 1)),
    )
    return p


def test_sizes_derived_from_data_and_recorded(npz):
    cfg = _cfg(npz)
    train, valid, std = prepare_data(cfg)
    liks = build_likelihoods(cfg, train)
    assert liks["g"].feature_shape == (2,) and liks["o"].feature_shape == (5,)
    assert liks["c"].feature_shape == (1,)
    mods = cfg["data"]["modalities"]
    assert mods["g"]["likelihood"]["feature_shape"] == [2]
    assert mods["o"]["likelihood"]["num_channels"] == 5
    # trial split 3/1, standardised on the training trials only
    assert train.num_trials == 3 and valid.num_trials == 1
    assert std.mean["g"].shape == (2,)
    assert abs(float(train.data["g"].mean())) < 1e-5
    # rebuilt from the recorded specs without the data
    again = build_likelihoods(cfg)
    assert again["o"].feature_shape == (5,)


def test_window_longer_than_trials(npz):
    cfg = _cfg(npz)
    cfg["data"]["window"] = 100
    with pytest.raises(ConfigError, match=r"data.window is 100 but the training trials have 40"):
        prepare_data(cfg)


def test_feature_mismatch_is_reported(npz):
    cfg = _cfg(npz, g={"likelihood": {"type": "Gaussian", "feature_shape": 3}})
    train, _, _ = prepare_data(cfg)
    with pytest.raises(ConfigError, match=r"modality 'g' expects features \(3,\).*data has \(2,\)"):
        build_likelihoods(cfg, train)


def test_init_batch_single_recording_spreads_starts():
    ds = MultimodalDataset({"g": np.random.default_rng(0).normal(size=(100, 2))})
    b = init_batch(ds, 3, window=20)
    assert b.obs["g"].shape == (3, 20, 2)
    torch.testing.assert_close(b.obs["g"][2, 0], ds.data["g"][0, 80])
    multi = MultimodalDataset({"g": np.zeros((2, 30, 2))})
    assert init_batch(multi, 5, None).index.tolist() == [0, 1, 0, 1, 0]


def test_load_run_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_run(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        load_run(tmp_path)


def test_fit_select_keeps_best_free_run(tmp_path):
    from pyrodyn.infer.checkpoint import load_checkpoint
    from pyrodyn.infer.selection import FreeRunScore
    from pyrodyn.run import fit_run

    t = np.arange(600) * 0.1
    x = np.stack([np.sin(t), np.cos(t)], -1) + 0.05 * np.random.default_rng(0).normal(size=(600, 2))
    np.savez(tmp_path / "d.npz", x=x)
    cfg = {
        "data": {
            "path": str(tmp_path / "d.npz"),
            "modalities": {"x": {"likelihood": {"type": "Gaussian"}}},
            "window": 20,
            "valid_fraction": 0.0,
        },
        "model": {
            "type": "MTF",
            "dynamics": {"type": "ClippedShallowPLRNN", "latent_dim": 2, "hidden_dim": 8},
            "tau": 5,
            "encoder": {"type": "TemporalConvEncoder", "input_dim": 2, "latent_dim": 2},
        },
        "fit": {"steps": 6, "batch_size": 4, "select": {"every": 2, "steps": 200, "burn_in": 10}},
    }
    fit_run(cfg, tmp_path / "run")
    rows = np.genfromtxt(tmp_path / "run" / "selection.csv", delimiter=",", names=True)
    assert rows["step"].tolist() == [2, 4, 6] and np.all(rows["score"] >= 0)
    assert len(set(rows["score"].tolist())) == 3  # the weights changed between scorings
    model, _, _ = load_run(tmp_path / "run")
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 6
    # the run directory holds the best-scoring weights: rescoring them gives the minimum
    again = FreeRunScore(MultimodalDataset({"x": x}), "x", steps=200, burn_in=10, window=20)
    assert again(model) == pytest.approx(np.nanmin(rows["score"]), rel=1e-6)
    cfg["fit"]["select"] = {"every": 2, "bogus": 1}
    with pytest.raises(ValueError, match=r"unknown keys \['bogus'\] in fit.select"):
        fit_run(cfg, tmp_path / "run2")
