import numpy as np
import pytest
import torch

from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.data.pendulum import pendulum_dataset
from pyrodyn.dynamics.query import QueryDynamics
from pyrodyn.likelihoods import Gaussian
from pyrodyn.metrics.base import get_metric
from pyrodyn.metrics.forecast import (
    baseline_forecast,
    code_probe_r2,
    few_shot_transfer,
    forecast_nmse_curve,
    knn_probe_r2,
    linear_probe_r2,
    nmse_per_step,
    offgrid_nmse_curve,
)
from pyrodyn.models.ladid import LaDID
from pyrodyn.nn.encoders.ct_transformer import ContinuousTimeTransformer


def test_nmse_per_step_closed_form():
    y = torch.tensor([[[3.0, 4.0], [1.0, 0.0]], [[0.0, 2.0], [2.0, 0.0]]])
    yhat = torch.tensor([[[3.0, 0.0], [0.0, 0.0]], [[0.0, 1.0], [2.0, 0.0]]])
    # trial 0: 16/25, 1/1 ; trial 1: 1/4, 0
    np.testing.assert_allclose(nmse_per_step(y, yhat), [(16 / 25 + 1 / 4) / 2, 0.5])
    np.testing.assert_allclose(nmse_per_step(y, torch.zeros_like(y)), [1.0, 1.0])
    with pytest.raises(ValueError, match="all-zero target"):
        nmse_per_step(torch.zeros(1, 1, 2), torch.zeros(1, 1, 2))
    with pytest.raises(ValueError, match="share a shape"):
        nmse_per_step(y, yhat[:, :1])


def test_baselines():
    ctx = torch.arange(6.0).reshape(1, 3, 2)
    torch.testing.assert_close(baseline_forecast(ctx, 2, "persistence")[0, 1], ctx[0, -1])
    torch.testing.assert_close(baseline_forecast(ctx, 2, "constant")[0, 0], ctx[0].mean(0))
    with pytest.raises(ValueError, match="kind"):
        baseline_forecast(ctx, 2, "median")


def _oracle_data(n=6, t=40, dt=0.05, stride=1):
    ds = pendulum_dataset(num_trials=n, num_steps=t, dt=dt / stride, seed=2, noise=0.0)
    return ds


def _oracle(dense):
    """A predictor that looks the answer up in a dense copy of the data (by time stamp)."""

    def predict(batch, times):
        idx = torch.round(times / float(dense.time[0, 1])).long()
        rows = batch.index if batch.index is not None else torch.arange(batch.num_sequences)
        return {"x": dense.data["x"][rows[:, None], idx]}

    return predict


def test_curve_of_an_oracle_is_zero_and_baselines_are_reported():
    ds = _oracle_data()
    r = forecast_nmse_curve(_oracle(ds), ds, context=10, horizon=20)
    assert r["curve"].shape == (20,)
    assert r["nmse"] == pytest.approx(0.0, abs=1e-10)
    assert r["baseline_constant"] > 0.05 and r["baseline_persistence"] > 0.0
    with pytest.raises(ValueError, match="at least 60 steps"):
        forecast_nmse_curve(_oracle(ds), ds, context=10, horizon=50)


def test_offgrid_queries_are_between_grid_points():
    dense = _oracle_data(t=80, stride=2)
    seen = []

    def predict(batch, times):
        seen.append((batch.times.clone(), times.clone()))
        return _oracle(dense)(batch, times)

    r = offgrid_nmse_curve(predict, dense, stride=2, context=10, horizon=20)
    assert r["nmse"] == pytest.approx(0.0, abs=1e-10)
    ctx_t, off_t = seen[0]
    step = 0.05
    np.testing.assert_allclose(ctx_t[0].numpy(), np.arange(10) * step, atol=1e-6)
    # off-grid queries are odd multiples of step / 2, all after the context
    k = off_t[0].numpy() / (step / 2)
    np.testing.assert_allclose(k % 2, 1.0, atol=1e-4)
    assert off_t.min() > ctx_t.max()


def test_linear_probe_recovers_a_linear_target():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    y = x @ np.array([1.0, -2.0, 0.0, 0.5]) + 0.01 * rng.normal(size=200)
    assert linear_probe_r2(x[:100], y[:100], x[100:], y[100:]) > 0.99
    assert linear_probe_r2(x[:100], rng.normal(size=100), x[100:], y[100:]) < 0.2
    # a nonlinear target: the linear probe fails, the nearest-neighbour probe does not
    y2 = np.cos(2 * x[:, 0])
    assert linear_probe_r2(x[:100], y2[:100], x[100:], y2[100:]) < 0.3
    assert knn_probe_r2(x[:150, :1], y2[:150], x[150:, :1], y2[150:]) > 0.9


def _tiny_model():
    liks = {"x": Gaussian(16)}
    encs = {"x": ContinuousTimeTransformer(16, 4, model_dim=8, num_layers=1, window=0.2)}
    dyn = QueryDynamics(4, 4, max_period=4.0, hidden=(8,), dropout=0.0)
    return LaDID(liks, encs, dyn, context=5)


def test_probe_few_shot_and_registry_run_on_a_tiny_model():
    train = pendulum_dataset(num_trials=12, num_steps=15, seed=0)
    test = pendulum_dataset(num_trials=10, num_steps=15, seed=1)
    model = _tiny_model().eval()
    r = code_probe_r2(model, train, test, context=5)
    assert set(r) == {
        "true_gl",
        "true_damping",
        "raw.true_gl",
        "raw.true_damping",
        "knn.true_gl",
        "knn.true_damping",
    }
    new = pendulum_dataset(num_trials=4, num_steps=15, gl_range=(20, 20), seed=3)
    before = [p.detach().clone() for p in model.dynamics.parameters()]
    curve = few_shot_transfer(
        model, new, new, shots=(0, 2), steps=2, horizon=5, context=5, batch_size=4
    )
    assert set(curve) == {0, 2} and all(np.isfinite(v) for v in curve.values())
    for b, p in zip(before, model.dynamics.parameters()):
        assert torch.equal(b, p)
    with pytest.raises(ValueError, match="cannot freeze 'flow'"):
        few_shot_transfer(model, new, new, freeze=("flow",))
    spec = get_metric("forecast_nmse")
    assert spec.needs == ("model", "data")
    out = spec.fn(model=model, data=test, context=5, horizon=10)
    assert {"nmse", "baseline_constant", "baseline_persistence"} <= set(out)
    assert "true_gl" in get_metric("code_probe_r2").fn(model=model, data=test, context=5)


def test_forecast_metrics_reject_static_data():
    static = MultimodalDataset({"x": np.ones((4, 3))}, static=True)
    with pytest.raises(ValueError, match="need sequences"):
        forecast_nmse_curve(lambda b, t: {}, static, context=1, horizon=1)


def test_models_without_the_capability_are_refused_by_name():
    from pyrodyn.likelihoods.gaussian import Gaussian as _Gaussian
    from pyrodyn.models.svae import SVAE

    data = MultimodalDataset({"x": np.random.default_rng(0).normal(size=(4, 20, 2))})
    model = SVAE({"x": _Gaussian(2)}, latent_dim=2)
    with pytest.raises(
        TypeError,
        match=r"SVAE cannot forecast from a context: .*ForecastsFromContext capability",
    ):
        forecast_nmse_curve(model, data, context=5, horizon=5)
    with pytest.raises(TypeError, match=r"SVAE cannot be probed .*HasInstanceCode capability"):
        code_probe_r2(model, data, data, targets=())
