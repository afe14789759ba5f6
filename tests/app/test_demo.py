import os
import warnings

import numpy as np
import pytest

from pyrodyn.app import factory
from pyrodyn.app.config import resolve
from pyrodyn.app.demo import DEMO_FIT_STEPS, demo_config, plot_demo, trajectory_verdict
from pyrodyn.app.migrate import ConfigMigrationWarning


def test_demo_config_is_mtf_on_three_modalities():
    cfg = demo_config("train.npz", seed=3, max_time=None)
    assert cfg["model"]["type"] == "MTF"
    assert set(cfg["data"]["modalities"]) == {"gaussian", "ordinal", "poisson"}
    assert cfg["fit"]["max_time"] > 0  # the demo always has a time cap, as a safety net
    assert demo_config("x.npz", max_time=5.0)["fit"]["max_time"] == 5.0
    # the budget is in steps, and the schedules run on steps: a busy machine trains the same model
    assert cfg["fit"]["steps"] == DEMO_FIT_STEPS and cfg["fit"]["schedule_clock"] == "steps"
    assert demo_config("x.npz", steps=10)["fit"]["steps"] == 10
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


def test_the_demo_verdict_says_how_to_train_longer():
    t = np.linspace(0, 60, 3000)
    true = np.stack([np.sin(t), np.cos(1.3 * t), np.sin(0.7 * t)], 1)
    assert "stays on an attractor" in trajectory_verdict(true, true[::-1] * 1.1)
    assert trajectory_verdict(true, np.zeros((3000, 3))).endswith("train longer (--steps)")


def test_the_figure_of_a_collapsed_demo_says_so(tmp_path):
    rng = np.random.default_rng(0)
    true = rng.normal(size=(600, 3))
    verdict = trajectory_verdict(true, np.zeros((800, 3)))
    summary = {"metrics": {"d_stsp": 16.5, "d_h": None}, "steps": 90, "verdict": verdict}
    path = os.fspath(tmp_path / "fig.png")
    fig = plot_demo(true, np.zeros((800, 3)), summary, path, seed=1)
    assert os.path.getsize(path) > 1000
    texts = " ".join(" ".join(t.get_text() for ax in fig.axes for t in ax.texts).split())
    assert "collapsed to a fixed point" in texts
    assert fig._suptitle.get_text() == (
        "MTF on multimodal Lorenz-63 (seed 1, 90 steps): D_stsp 16.500, D_H n/a"
    )
