"""Input handling and settings of the probe metrics, with a duck-typed model and sklearn spies.

The spies subclass the real sklearn estimators and only record what they are fit with, so the
settings the docstrings promise (standardised, flattened inputs; L2 logistic regression with
``max_iter`` iterations on at most ``max_train`` rows; an early-stopping MLP per modality) are
checked without training anything slow.
"""

import warnings

import numpy as np
import pytest
import sklearn.linear_model
import sklearn.neural_network
import torch
from sklearn.exceptions import ConvergenceWarning

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.metrics.probes import (
    evaluate_static,
    linear_probe_accuracy,
    probe_accuracies,
    probe_accuracy_metric,
    train_classifiers,
)


class _EncodeObs:
    """A model whose representations are fixed noisy views of modality ``a`` (no training)."""

    modalities = ("a",)

    def eval(self):
        return self

    def encode(self, batch):
        x = batch.obs["a"].double()
        return {f"latent_{k}": x[:, k : k + 2] for k in range(3)}


def _noisy_data(n=40, seed=0, label="label"):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = y[:, None] + 1.2 * rng.standard_normal((n, 4))
    return MultimodalDataset({"a": x}, static=True, extras={label: y})


def test_probe_feature_inputs():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    x = rng.normal(size=(60, 2, 3)) + 3 * y[:, None, None]
    flat = x.reshape(60, 6)
    want = linear_probe_accuracy(flat[:30], y[:30], flat[30:], y[30:])
    assert want > 0.9
    # (N, 2, 3) features are flattened per sample; tensors needing grad are detached
    x_t = torch.tensor(x[:30], requires_grad=True)
    assert linear_probe_accuracy(x_t, y[:30], x[30:], y[30:]) == want
    # column labels (N, 1) count like (N,) ones
    assert linear_probe_accuracy(flat[:30], y[:30, None], flat[30:], y[30:, None]) == want
    with pytest.raises(ValueError, match=r"^train_x must be \(samples"):
        linear_probe_accuracy(np.zeros(4), y[:4], flat[:4], y[:4])
    with pytest.raises(ValueError, match=r"^test_x holds non-finite"):
        linear_probe_accuracy(flat[:4], y[:4], np.full((4, 6), np.inf), y[:4])


class _SpyLogistic(sklearn.linear_model.LogisticRegression):
    calls: list = []

    def fit(self, X, y, sample_weight=None):
        type(self).calls.append((self.get_params(), X.copy()))
        return super().fit(X, y, sample_weight)


def test_probe_solver_settings_and_training_cap(monkeypatch):
    monkeypatch.setattr(sklearn.linear_model, "LogisticRegression", _SpyLogistic)
    _SpyLogistic.calls = []
    rng = np.random.default_rng(1)
    y = np.arange(10_001) % 2
    x = rng.normal(size=(10_001, 2)) + y[:, None]
    linear_probe_accuracy(x, y, x[:10], y[:10])
    linear_probe_accuracy(x, y, x[:10], y[:10], max_train=None, max_iter=50)
    linear_probe_accuracy(x, y, x[:10], y[:10], max_train=7)
    (p0, x0), (p1, x1), (_, x2) = _SpyLogistic.calls
    assert p0["max_iter"] == 10_000 and p0["C"] == 1.0
    assert x0.shape == (10_000, 2)  # default cap: the first 10 000 rows
    assert p1["max_iter"] == 50 and x1.shape == (10_001, 2)
    # the first 7 rows, standardised with their own statistics
    first = x[:7]
    np.testing.assert_allclose(x2, (first - first.mean(0)) / first.std(0), rtol=1e-12)


class _SpyMLP(sklearn.neural_network.MLPClassifier):
    calls: list = []

    def fit(self, X, y):
        type(self).calls.append((self.get_params(), X.copy(), np.asarray(y).copy()))
        warnings.warn("a caller should still see this", UserWarning, stacklevel=1)
        warnings.warn("budget reached", ConvergenceWarning, stacklevel=1)
        return super().fit(X, y)


def test_classifier_settings_inputs_and_warning_filter(monkeypatch):
    monkeypatch.setattr(sklearn.neural_network, "MLPClassifier", _SpyMLP)
    _SpyMLP.calls = []
    rng = np.random.default_rng(2)
    y = np.arange(30) % 3
    obs = rng.normal(size=(30, 2, 2)) * np.array([1.0, 5.0]) + 10.0
    data = MultimodalDataset({"img": obs}, static=True, extras={"label": y})
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        clfs = train_classifiers(data, hidden=(4,), max_iter=20)
    # only the iteration-budget warning is silenced
    categories = {w.category for w in seen}
    assert UserWarning in categories and ConvergenceWarning not in categories
    assert list(clfs) == ["img"]
    params, x_fit, y_fit = _SpyMLP.calls[0]
    assert params["hidden_layer_sizes"] == (4,) and params["max_iter"] == 20
    assert params["early_stopping"] is True and params["random_state"] == 0
    # flattened (samples, 4) and standardised per column
    assert x_fit.shape == (30, 4)
    np.testing.assert_allclose(x_fit.mean(0), 0.0, atol=1e-6)
    np.testing.assert_allclose(x_fit.std(0), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(y_fit, y)
    with pytest.warns(UserWarning, match="should still see"):
        train_classifiers(data, hidden=(4,), seed=3)
    assert _SpyMLP.calls[1][0]["random_state"] == 3
    assert _SpyMLP.calls[1][0]["max_iter"] == 300
    # datasets refuse infinite values, raw batches do not
    obs[0, 0, 0] = np.inf
    bad = MultimodalBatch.from_tensors(
        {"img": torch.from_numpy(obs)}, static=True, extras={"label": torch.from_numpy(y)}
    )
    with pytest.raises(ValueError, match=r"^modality 'img' holds non-finite"):
        train_classifiers(bad)


def test_default_split_of_probe_metric():
    data, model = _noisy_data(), _EncodeObs()
    for fraction, seed in [(0.5, 0), (0.3, 1)]:
        train, test = data.split(fraction, seed=seed)
        want = probe_accuracies(model, train, test)
        got = probe_accuracy_metric(model, data, valid_fraction=fraction, seed=seed)
        assert got == want
    with pytest.raises(TypeError, match="must be a MultimodalDataset"):
        probe_accuracy_metric(model, data.batch())


def test_evaluate_static_passes_train_data_and_label():
    data, train = _noisy_data(seed=0, label="label_odour"), _noisy_data(seed=1, label="label_odour")
    model = _EncodeObs()
    out = evaluate_static(
        model, data, train_data=train, metrics=["probe_accuracy"], label="label_odour"
    )
    assert out == {"probe_accuracy": probe_accuracies(model, train, data, label="label_odour")}
