import os
import warnings

import numpy as np
import pytest

from pyrodyn.app import factory
from pyrodyn.app.config import resolve
from pyrodyn.app.demo import demo_config, plot_attractors
from pyrodyn.app.migrate import ConfigMigrationWarning


def test_demo_config_is_mtf_on_three_modalities():
    cfg = demo_config("train.npz", seed=3, max_time=None)
    assert cfg["model"]["type"] == "MTF"
    assert set(cfg["data"]["modalities"]) == {"gaussian", "ordinal", "poisson"}
    assert cfg["fit"]["max_time"] > 0  # the demo always has a time budget
    assert demo_config("x.npz", max_time=5.0)["fit"]["max_time"] == 5.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigMigrationWarning)  # current format, no migration
        resolved = resolve(cfg)
    assert factory.resolve(resolved["model"]["type"], "GenerativeModel").__name__ == "MTF"


@pytest.mark.slow
def test_demo_config_builds_and_takes_a_step(tmp_path):
    from pyrodyn.app.fitrun import fit_run
    from pyrodyn.data.lorenz_multimodal import make_lorenz63_multimodal

    arrays = make_lorenz63_multimodal(600, seed=0)
    path = os.fspath(tmp_path / "train.npz")
    np.savez(path, **arrays)
    cfg = demo_config(path)
    cfg["fit"].update(steps=2, batch_size=2)
    cfg["data"]["window"] = 50
    result, _ = fit_run(cfg, tmp_path / "run")
    assert result.steps_done == 2


def test_plot_attractors_writes_png(tmp_path):
    rng = np.random.default_rng(0)
    path = os.fspath(tmp_path / "fig.png")
    plot_attractors(rng.normal(size=(600, 3)), rng.normal(size=(800, 3)), path, dt=0.05)
    assert os.path.getsize(path) > 1000
