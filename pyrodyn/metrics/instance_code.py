"""Probes of an instance code: is the realisation-specific part of a trajectory in the code?

LaDID's extras (Lagemann et al., ICLR 2024; spec ladid 3 "suggested extras", reviewers'
question 1): held-out linear and nearest-neighbour probes from the posterior-mean instance code
to the instance constants (``true_*``), next to the same probe on the raw context frames. The
model must declare :class:`~pyrodyn.models.capabilities.HasInstanceCode`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.metrics.base import register_metric
from pyrodyn.models.capabilities import HasInstanceCode, require


def _codes(model: Any, data: MultimodalDataset, context: int, batch_size: int = 256) -> np.ndarray:
    out = []
    for s in range(0, data.num_trials, batch_size):
        idx = torch.arange(s, min(s + batch_size, data.num_trials))
        with torch.no_grad():
            out.append(model.encode(data.batch(idx, window=context))["code"].cpu().numpy())
    return np.concatenate(out)


def _raw_context(data: MultimodalDataset, context: int) -> np.ndarray:
    b = data.batch(window=context)
    return np.concatenate(
        [b.obs[m].reshape(b.num_sequences, -1).cpu().numpy() for m in data.modalities], 1
    )


def linear_probe_r2(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
) -> float:
    """Held-out R^2 of a ridge regression (penalty by leave-one-out CV) from ``x`` to ``y``."""
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import r2_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, x_test = np.asarray(x_train, float), np.asarray(x_test, float)
    y_train, y_test = np.asarray(y_train, float).ravel(), np.asarray(y_test, float).ravel()
    if x_train.shape[0] != y_train.shape[0] or x_test.shape[0] != y_test.shape[0]:
        raise ValueError("probe inputs and targets need the same number of rows")
    probe = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-4, 3, 15)))
    probe.fit(x_train, y_train)
    return float(r2_score(y_test, probe.predict(x_test)))


def knn_probe_r2(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    neighbours: int = 10,
) -> float:
    """Held-out R^2 of a k-nearest-neighbour regression (standardised inputs).

    A nonlinear companion of :func:`linear_probe_r2`: is the information there at all?
    """
    from sklearn.metrics import r2_score
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    k = max(1, min(int(neighbours), len(x_train)))
    probe = make_pipeline(StandardScaler(), KNeighborsRegressor(k, weights="distance"))
    probe.fit(np.asarray(x_train, float), np.asarray(y_train, float).ravel())
    return float(r2_score(np.asarray(y_test, float).ravel(), probe.predict(x_test)))


def code_probe_r2(
    model: Any,
    train: MultimodalDataset,
    test: MultimodalDataset,
    *,
    targets: Sequence[str] = ("true_gl", "true_damping"),
    context: int = 10,
) -> dict[str, float]:
    """Linear-probe R^2 from the instance code (posterior mean) to instance constants.

    The same probe on the raw context frames is reported as ``raw.<target>``: the code should
    beat it if it isolates the realisation-specific part (spec ladid 3, reviewers' question 1).
    ``knn.<target>`` is a nearest-neighbour probe of the code (is the constant in the code at
    all, linearly or not?).

    Returns:
        ``{"<target>": linear R^2 from the code, "raw.<target>": linear R^2 from the raw
        context, "knn.<target>": k-NN R^2 from the code}``.
    """
    require(model, HasInstanceCode, "be probed for its instance code")
    missing = [t for t in targets if t not in train.extras or t not in test.extras]
    if missing:
        raise ValueError(f"targets {missing} are not in the data's extras {sorted(train.extras)}")
    ctr, cte = _codes(model, train, context), _codes(model, test, context)
    rtr, rte = _raw_context(train, context), _raw_context(test, context)
    out = {}
    for t in targets:
        ytr, yte = train.extras[t].numpy(), test.extras[t].numpy()
        out[t] = linear_probe_r2(ctr, ytr, cte, yte)
        out[f"raw.{t}"] = linear_probe_r2(rtr, ytr, rte, yte)
        out[f"knn.{t}"] = knn_probe_r2(ctr, ytr, cte, yte)
    return out


@register_metric(
    "code_probe_r2",
    needs=("model", "data"),
    description="held-out linear-probe R2 from the instance code to true_* constants, next to "
    "the same probe on the raw context",
    requires=(HasInstanceCode,),
)
def code_probe_metric(
    model: Any,
    data: MultimodalDataset,
    *,
    train_data: MultimodalDataset | None = None,
    targets: Sequence[str] | None = None,
    context: int = 10,
    valid_fraction: float = 0.5,
    seed: int = 0,
) -> dict[str, float]:
    """:func:`code_probe_r2`; by default fit on a random half of ``data``, scalar ``true_*``."""
    if train_data is None:
        train_data, data = data.split(valid_fraction, seed=seed)
    if targets is None:
        targets = [k for k, v in data.extras.items() if k.startswith("true_") and v.dim() == 1]
    return code_probe_r2(model, train_data, data, targets=targets, context=context)


__all__ = ["code_probe_metric", "code_probe_r2", "knn_probe_r2", "linear_probe_r2"]
