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


def _ramp_data(n, t, stride):
    """Two modalities whose value at dense step ``j`` is ``j + 1`` (x) and ``-(j + 1)`` (y)."""
    j = np.arange(1.0, t + 1)
    x = np.broadcast_to(j[None, :, None], (n, t, 2)).copy()
    return MultimodalDataset({"x": x, "y": -x[..., :1]}, dt=1.0 / stride)


def test_offgrid_query_layout_and_scores_by_hand():
    stride, context, horizon = 3, 4, 5
    dense = _ramp_data(n=3, t=stride * (context + horizon) + 4, stride=stride)
    calls = []

    def predict(batch, times):
        calls.append((batch, times.clone()))
        j = torch.round(times * stride).long()  # dense step of each query
        truth = (j + 1).to(torch.float64)[..., None]
        # exact between grid points, 1.5 x the truth on them: on-grid nMSE is 0.25
        scale = torch.where(j % stride == 0, 1.5, 1.0)[..., None]
        return {"x": (truth * scale).expand(-1, -1, 2), "y": torch.zeros_like(-truth)}

    r = offgrid_nmse_curve(predict, dense, stride=stride, context=context, horizon=horizon)
    assert set(r) == {"curve", "nmse", "on_grid_nmse"}
    np.testing.assert_allclose(r["curve"], np.zeros((stride - 1) * horizon), atol=1e-12)
    assert r["nmse"] == pytest.approx(0.0, abs=1e-12)
    assert r["on_grid_nmse"] == pytest.approx(0.25)
    (ctx, off_t), (_, on_t) = calls
    # the context: every stride-th dense frame, 4 of them, full length
    np.testing.assert_array_equal(ctx.times[0].numpy() * stride, [0, 3, 6, 9])
    np.testing.assert_array_equal(ctx.obs["x"][1, :, 0].numpy(), [1, 4, 7, 10])
    assert ctx.lengths.dtype == torch.long and ctx.lengths.tolist() == [context] * 3
    # queries: every dense frame after the last context frame (9), 5 grid steps deep
    off = [j for j in range(10, 25) if j % 3]  # not 25, 26: past the horizon
    np.testing.assert_allclose(off_t[0].numpy() * stride, off, atol=1e-5)
    np.testing.assert_allclose(on_t[2].numpy() * stride, [12, 15, 18, 21, 24], atol=1e-5)
    # the scored modality is the one asked for: y is predicted as zeros, so nMSE 1
    r = offgrid_nmse_curve(
        predict, dense, stride=stride, context=context, horizon=horizon, modality="y"
    )
    assert r["nmse"] == pytest.approx(1.0) and r["on_grid_nmse"] == pytest.approx(1.0)


def test_offgrid_defaults_and_length_check():
    dense = _ramp_data(n=1, t=120, stride=2)
    seen = []

    def predict(batch, times):
        seen.append(batch.times.shape[1])
        j = torch.round(times * 2).long()
        return {"x": (j + 1).to(torch.float64)[..., None].expand(-1, -1, 2)}

    # defaults: stride 2, context 10, horizon 50 -> 120 dense steps, 50 off-grid queries
    r = offgrid_nmse_curve(predict, dense)
    assert r["curve"].shape == (50,) and seen == [10, 10]
    with pytest.raises(
        ValueError, match=r"^off-grid queries with stride 3 needs trajectories of at least 180"
    ):
        offgrid_nmse_curve(predict, dense, stride=3)


def test_zero_baseline_and_default_kind():
    ctx = torch.arange(12.0).reshape(2, 3, 2)
    zero = baseline_forecast(ctx, 4, "zero")
    assert zero.shape == (2, 4, 2) and torch.count_nonzero(zero) == 0
    # the default kind is the context mean
    torch.testing.assert_close(
        baseline_forecast(ctx, 4), ctx.mean(1, keepdim=True).expand(-1, 4, 2)
    )


def test_forecast_curve_by_hand_on_a_ramp():
    # x at step j is j + 1 in both features; the predictor repeats the last context frame,
    # so at horizon step k (1-based) the error is k and the target C + k
    n, c, h = 5, 3, 12
    data = _ramp_data(n=n, t=c + h, stride=1)
    rows = []

    def persistence(batch, times):
        rows.append(batch.index.tolist())
        assert batch.times.shape[1] == c + h and torch.equal(times, batch.times[:, c:])
        last = batch.obs["x"][:, c - 1 : c]
        q = times.shape[1]
        return {"x": last.expand(-1, q, -1), "y": torch.zeros_like(last[..., :1]).expand(-1, q, -1)}

    r = forecast_nmse_curve(persistence, data, context=c, horizon=h, batch_size=2)
    assert rows == [[0, 1], [2, 3], [4]]  # every trial once, batch_size at a time
    k = np.arange(1, h + 1)
    want = (k / (c + k)) ** 2
    np.testing.assert_allclose(r["curve"], want, rtol=1e-12)
    np.testing.assert_allclose(r["curve_persistence"], want, rtol=1e-12)
    # the constant baseline is the context mean (c + 1) / 2
    want_const = ((c + k - (c + 1) / 2) / (c + k)) ** 2
    np.testing.assert_allclose(r["curve_constant"], want_const, rtol=1e-12)
    assert r["nmse"] == pytest.approx(want.mean())
    assert r["first10"] == pytest.approx(want[:10].mean())
    assert r["last10"] == pytest.approx(want[-10:].mean())
    assert r["baseline_persistence"] == pytest.approx(want.mean())
    assert r["baseline_constant"] == pytest.approx(want_const.mean())
    assert set(r) == {
        "curve",
        "nmse",
        "first10",
        "last10",
        "baseline_constant",
        "baseline_persistence",
        "curve_constant",
        "curve_persistence",
    }
    # another modality on request: y is predicted as zeros
    assert forecast_nmse_curve(persistence, data, context=c, horizon=h, modality="y")[
        "nmse"
    ] == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"unknown modality 'z'; the data has \['x', 'y'\]"):
        forecast_nmse_curve(persistence, data, context=c, horizon=h, modality="z")


def test_forecast_curve_defaults_and_validation():
    data = _ramp_data(n=257, t=60, stride=1)
    sizes = []

    def zero(batch, times):
        sizes.append(batch.num_sequences)
        return {"x": torch.zeros(batch.num_sequences, times.shape[1], 2, dtype=torch.float64)}

    # defaults: context 10, horizon 50, 256 trials per forward pass
    r = forecast_nmse_curve(zero, data)
    assert r["curve"].shape == (50,) and sizes == [256, 1]
    with pytest.raises(ValueError, match="need context >= 1 and horizon >= 1, got 0, 5"):
        forecast_nmse_curve(zero, data, context=0, horizon=5)
    with pytest.raises(ValueError, match="need context >= 1 and horizon >= 1, got 5, 0"):
        forecast_nmse_curve(zero, data, context=5, horizon=0)
    with pytest.raises(
        ValueError, match=r"^a context of 10 \+ horizon of 51 needs trajectories of at least 61"
    ):
        forecast_nmse_curve(zero, data, horizon=51)


def test_nmse_per_step_computes_in_float64():
    # float32 inputs whose squares overflow float32 (3.4e38)
    y = torch.tensor([[[1e20, 0.0], [0.0, 2e20]]], dtype=torch.float32)
    yhat = torch.tensor([[[5e19, 0.0], [0.0, 2e20]]], dtype=torch.float32)
    np.testing.assert_allclose(nmse_per_step(y, yhat), [0.25, 0.0], rtol=1e-6)
