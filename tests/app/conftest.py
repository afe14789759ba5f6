"""Shared fixtures of the app tests: a tiny SVAE configuration on a small Gaussian data file, and
a small MTF configuration on a noisy sine (`sine_mtf`)."""

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


def sine_mtf(tmp_path, n, *, latent_dim, fit, **model):
    """A noisy 2-D sine recording of ``n`` steps in ``d.npz`` and a small MTF config fitting it."""
    t = np.arange(n) * 0.1
    x = np.stack([np.sin(t), np.cos(t)], -1) + 0.05 * np.random.default_rng(0).normal(size=(n, 2))
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
            "dynamics": {"type": "ClippedShallowPLRNN", "latent_dim": latent_dim, "hidden_dim": 8},
            **model,
            "tau": 5,
            "encoder": {"type": "TemporalConvEncoder", "input_dim": 2, "latent_dim": 2},
        },
        "fit": fit,
    }
    return x, cfg
