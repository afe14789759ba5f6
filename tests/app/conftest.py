"""Shared fixtures of the app tests: a tiny SVAE configuration on a small Gaussian data file."""

from __future__ import annotations

import numpy as np
import pytest
import yaml


@pytest.fixture
def tiny_config(tmp_path):
    """``make(seed=0, **fit) -> path``: writes ``d.npz`` (10 trials x 20 steps x 2, drawn with
    ``seed``) and ``cfg.yaml`` (SVAE, window 10, 4 steps, ``fit`` entries updated) in tmp_path."""

    def make(seed: int = 0, **fit):
        np.savez(tmp_path / "d.npz", g=np.random.default_rng(seed).normal(size=(10, 20, 2)))
        cfg = {
            "data": {
                "path": str(tmp_path / "d.npz"),
                "modalities": {"g": {"likelihood": {"type": "Gaussian"}}},
                "window": 10,
            },
            "model": {"type": "SVAE", "latent_dim": 2},
            "fit": {"steps": 4, "batch_size": 2, "progress": False, **fit},
        }
        path = tmp_path / "cfg.yaml"
        path.write_text(yaml.safe_dump(cfg))
        return path

    return make
