from __future__ import annotations

import numpy as np
import pytest

from pyrodyn.app.fitrun import fit_run
from pyrodyn.app.rundir import load_run
from pyrodyn.data.dataset import MultimodalDataset


def test_fit_select_keeps_best_free_run(tmp_path):
    from pyrodyn.infer.checkpoint import load_checkpoint
    from pyrodyn.infer.selection import FreeRunScore

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
    model = load_run(tmp_path / "run").model
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 6
    # the run directory holds the best-scoring weights: rescoring them gives the minimum
    again = FreeRunScore(MultimodalDataset({"x": x}), "x", steps=200, burn_in=10, window=20)
    assert again(model) == pytest.approx(np.nanmin(rows["score"]), rel=1e-6)
    cfg["fit"]["select"] = {"every": 2, "bogus": 1}
    with pytest.raises(ValueError, match=r"unknown keys \['bogus'\] in fit.select"):
        fit_run(cfg, tmp_path / "run2")
