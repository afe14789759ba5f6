"""Instance-code probes on a hand-made model whose codes are known, against hand references."""

import numpy as np
import pytest

from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.metrics.instance_code import code_probe_r2, knn_probe_r2, linear_probe_r2
from pyrodyn.models.capabilities import HasInstanceCode


class _MeanCode(HasInstanceCode):
    """Code = per-feature mean of the context frames of ``x``; logs what it was asked to encode."""

    def __init__(self):
        self.calls = []

    def code_posterior(self, batch):
        raise NotImplementedError

    def encode(self, batch):
        self.calls.append((batch.num_sequences, batch.times.shape[1]))
        return {"code": batch.obs["x"].mean(1)}


def _data(n, seed, t=14):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 2.0, n)
    b = rng.normal(size=n)
    steps = np.arange(t)
    x = np.stack([a[:, None] * np.sin(0.3 * steps), b[:, None] + 0.1 * steps], -1)
    x = x + 0.3 * rng.normal(size=x.shape)
    y = rng.normal(size=(n, t, 1))
    return MultimodalDataset({"x": x, "y": y}, extras={"true_a": a, "true_b": b})


def _knn_reference(xtr, ytr, xte, yte, k):
    """Distance-weighted k-NN on inputs standardised with the training statistics; R2."""
    mu, sd = xtr.mean(0), xtr.std(0)
    a, b = (xtr - mu) / sd, (xte - mu) / sd
    dist = np.sqrt(((b[:, None] - a[None]) ** 2).sum(-1))
    near = np.argsort(dist, axis=1)[:, :k]
    w = 1.0 / np.take_along_axis(dist, near, 1)
    pred = (w * ytr[near]).sum(1) / w.sum(1)
    return 1.0 - np.sum((yte - pred) ** 2) / np.sum((yte - yte.mean()) ** 2)


def test_code_probe_scores_the_codes_and_the_raw_context_by_hand():
    train, test = _data(300, 0), _data(40, 1)
    model = _MeanCode()
    out = code_probe_r2(model, train, test, targets=("true_a", "true_b"), context=6)
    # codes in passes of 256 trials, over the 6 context frames only
    assert model.calls == [(256, 6), (44, 6), (40, 6)]
    assert set(out) == {f"{p}{t}" for p in ("", "raw.", "knn.") for t in ("true_a", "true_b")}
    code_tr = train.data["x"][:, :6].mean(1).numpy()
    code_te = test.data["x"][:, :6].mean(1).numpy()

    def raw(ds):  # every modality's context frames, flattened and side by side
        return np.concatenate([ds.data[m][:, :6].reshape(len(ds.data[m]), -1) for m in "xy"], 1)

    for t in ("true_a", "true_b"):
        ytr, yte = train.extras[t].numpy(), test.extras[t].numpy()
        assert out[t] == pytest.approx(linear_probe_r2(code_tr, ytr, code_te, yte), rel=1e-9)
        assert out[f"raw.{t}"] == pytest.approx(
            linear_probe_r2(raw(train), ytr, raw(test), yte), rel=1e-9
        )
        assert out[f"knn.{t}"] == pytest.approx(
            _knn_reference(code_tr, ytr, code_te, yte, 10),
            rel=1e-6,  # float32 codes
        )
    # the second code feature is b plus noise: linearly recoverable, unlike a from the mean
    assert out["true_b"] > 0.8


def test_code_probe_default_context_and_missing_targets():
    train, test = _data(20, 0), _data(10, 1)
    model = _MeanCode()
    code_probe_r2(model, train, test, targets=("true_b",))
    assert {w for _, w in model.calls} == {10}
    with pytest.raises(ValueError, match=r"targets \['true_c'\] are not in the data's extras"):
        code_probe_r2(model, train, test, targets=("true_b", "true_c"))
    only_train = MultimodalDataset({"x": test.data["x"].numpy(), "y": test.data["y"].numpy()})
    with pytest.raises(ValueError, match=r"targets \['true_b'\] are not in the data's extras"):
        code_probe_r2(model, train, only_train, targets=("true_b",))


def test_linear_probe_is_invariant_to_feature_scales_and_checks_rows():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 3))
    y = x @ np.array([1.0, 0.5, -0.2]) + 0.5 * rng.normal(size=60)
    scales = np.array([1e-4, 1.0, 1e3])  # standardised away before the ridge penalty
    base = linear_probe_r2(x[:40], y[:40], x[40:], y[40:])
    scaled = linear_probe_r2(x[:40] * scales, y[:40], x[40:] * scales, y[40:])
    assert scaled == pytest.approx(base, rel=1e-9)
    assert 0.5 < base < 1.0
    with pytest.raises(ValueError, match="the same number of rows"):
        linear_probe_r2(x[:40], y[:39], x[40:], y[40:])
    with pytest.raises(ValueError, match="the same number of rows"):
        linear_probe_r2(x[:40], y[:40], x[40:], y[41:])


def test_knn_probe_matches_a_hand_written_distance_weighted_knn():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(80, 2)) * np.array([1e-3, 10.0])
    y = np.cos(x[:, 0] * 1e3) + 0.1 * x[:, 1] + 0.1 * rng.normal(size=80)
    xtr, ytr, xte, yte = x[:60], y[:60], x[60:], y[60:]
    assert knn_probe_r2(xtr, ytr, xte, yte) == pytest.approx(
        _knn_reference(xtr, ytr, xte, yte, 10), rel=1e-9
    )
    for k in (1, 3):
        assert knn_probe_r2(xtr, ytr, xte, yte, neighbours=k) == pytest.approx(
            _knn_reference(xtr, ytr, xte, yte, k), rel=1e-9
        )
    # more neighbours than training points: all of them
    assert knn_probe_r2(xtr[:4], ytr[:4], xte, yte, neighbours=50) == pytest.approx(
        _knn_reference(xtr[:4], ytr[:4], xte, yte, 4), rel=1e-9
    )
    # a single training point: its value everywhere
    assert knn_probe_r2(xtr[:1], ytr[:1], xte, yte, neighbours=0) == pytest.approx(
        1.0 - np.sum((yte - ytr[0]) ** 2) / np.sum((yte - yte.mean()) ** 2), rel=1e-9
    )


def _ridge_loo_reference(xtr, ytr, xte, yte, alphas):
    """Ridge on standardised inputs, unpenalised intercept, penalty by exact leave-one-out."""
    mu, sd = xtr.mean(0), xtr.std(0)
    a, b = (xtr - mu) / sd, (xte - mu) / sd
    n, p = a.shape
    best_mse, best_alpha = np.inf, None
    for alpha in alphas:
        hat = np.full((n, n), 1.0 / n) + a @ np.linalg.solve(a.T @ a + alpha * np.eye(p), a.T)
        loo = (ytr - hat @ ytr) / (1.0 - np.diag(hat))  # leave-one-out residuals, closed form
        if np.mean(loo**2) < best_mse:
            best_mse, best_alpha = np.mean(loo**2), alpha
    w = np.linalg.solve(a.T @ a + best_alpha * np.eye(p), a.T @ (ytr - ytr.mean()))
    pred = b @ w + ytr.mean()
    return 1.0 - np.sum((yte - pred) ** 2) / np.sum((yte - yte.mean()) ** 2)


def test_linear_probe_matches_leave_one_out_ridge_on_its_penalty_grid():
    # noisy, few rows per feature: the chosen penalty is inside the grid 1e-4 .. 1e3
    rng = np.random.default_rng(5)
    x = rng.normal(size=(60, 12))
    y = x @ rng.normal(size=12) * 0.3 + rng.normal(size=60)
    want = _ridge_loo_reference(x[:30], y[:30], x[30:], y[30:], np.logspace(-4, 3, 15))
    assert linear_probe_r2(x[:30], y[:30], x[30:], y[30:]) == pytest.approx(want, rel=1e-9)


def test_probes_compute_in_float64_whatever_the_input_precision():
    # codes of a model are float32: the probes must not fit in float32
    rng = np.random.default_rng(6)
    x = rng.normal(size=(60, 4)).astype(np.float32) * np.float32(1e3) + np.float32(1e4)
    y = (x[:, 0] * 1e-3 + rng.normal(size=60)).astype(np.float32)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    assert linear_probe_r2(x[:40], y[:40], x[40:], y[40:]) == pytest.approx(
        linear_probe_r2(x64[:40], y64[:40], x64[40:], y64[40:]), rel=1e-12, abs=1e-12
    )
    for k in (1, 10):
        assert knn_probe_r2(x[:40], y[:40], x[40:], y[40:], k) == pytest.approx(
            knn_probe_r2(x64[:40], y64[:40], x[40:], y64[40:], k), rel=1e-12, abs=1e-12
        )
