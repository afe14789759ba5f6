"""Representation and cross-modal metrics of multimodal VAEs (spec mmvm.md 3).

* :func:`linear_probe_accuracy`: a logistic-regression probe trained on latent means of training
  data, scored on held-out latents (the MMVM paper's representation metric).
* :func:`coherence`: cross-modal conditional generation judged by classifiers trained on real
  data (:func:`train_classifiers`): the fraction of generated samples of modality ``m'`` from
  modality ``m`` whose predicted class is the sample's label.
* :func:`reconstruction_nll`: held-out negative log-likelihood of each modality reconstructed from
  its posterior mean (self-reconstruction for per-modality latents, the joint latent otherwise).

The model-level metrics need a model with ``encode``/``impute``/``posteriors`` (e.g.
:class:`~pyrodyn.models.mmvm.MultimodalVAE`) and static data carrying a ``label`` extra.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.metrics.base import register_metric
from pyrodyn.models.capabilities import Imputes


def _as_batch(data: MultimodalDataset | MultimodalBatch) -> MultimodalBatch:
    if isinstance(data, MultimodalDataset):
        return data.batch()
    if isinstance(data, MultimodalBatch):
        return data
    raise TypeError(f"data must be a MultimodalDataset or MultimodalBatch, got {type(data)}")


def _labels(batch: MultimodalBatch, key: str) -> np.ndarray:
    if key not in batch.extras:
        raise ValueError(
            f"data has no {key!r} array (labels for probes); extras are {sorted(batch.extras)}"
        )
    y = batch.extras[key].detach().cpu().numpy()
    if y.ndim != 1:
        raise ValueError(f"labels {key!r} must be (samples,), got shape {y.shape}")
    return y


def _flat(x: Tensor | np.ndarray, name: str) -> np.ndarray:
    a = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
    if a.ndim < 2:
        raise ValueError(f"{name} must be (samples, features...), got shape {a.shape}")
    a = a.reshape(a.shape[0], -1).astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds non-finite values")
    return a


def linear_probe_accuracy(
    train_x: Tensor | np.ndarray,
    train_y: Tensor | np.ndarray,
    test_x: Tensor | np.ndarray,
    test_y: Tensor | np.ndarray,
    *,
    max_iter: int = 10_000,
    max_train: int | None = 10_000,
) -> float:
    """Held-out accuracy of a logistic-regression probe.

    Features are standardised with the training statistics (a linear map, so still a linear
    probe; it only helps the solver), then ``LogisticRegression(max_iter=max_iter)`` (L2, C = 1,
    as in the MMVM reference) is fit on at most ``max_train`` training rows.

    Args:
        train_x: ``(N, D)`` training features (e.g. latent means).
        train_y: ``(N,)`` class labels.
        test_x: ``(N', D)`` held-out features.
        test_y: ``(N',)`` held-out labels.
        max_iter: solver iterations.
        max_train: cap on training rows (first rows), None for all.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    xtr, xte = _flat(train_x, "train_x"), _flat(test_x, "test_x")
    ytr, yte = np.asarray(train_y).reshape(-1), np.asarray(test_y).reshape(-1)
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        raise ValueError(
            f"features and labels disagree: train {len(xtr)} vs {len(ytr)}, test {len(xte)} vs "
            f"{len(yte)}"
        )
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(f"train_x has {xtr.shape[1]} features, test_x {xte.shape[1]}")
    if len(np.unique(ytr)) < 2:
        raise ValueError("a probe needs at least two classes in the training labels")
    if max_train is not None:
        xtr, ytr = xtr[:max_train], ytr[:max_train]
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=int(max_iter)))
    clf.fit(xtr, ytr)
    return float((clf.predict(xte) == yte).mean())


@torch.no_grad()
def probe_accuracies(
    model: Any,
    train_data: MultimodalDataset | MultimodalBatch,
    test_data: MultimodalDataset | MultimodalBatch,
    *,
    label: str = "label",
    keys: Sequence[str] | None = None,
) -> dict[str, float]:
    """Probe accuracy of every representation ``model.encode`` returns.

    Keys as ``encode`` (``latent``, ``latent_<m>``, ...); fit on ``train_data``, scored on
    ``test_data``.
    """
    model.eval()
    tr, te = _as_batch(train_data), _as_batch(test_data)
    ztr, zte = model.encode(tr), model.encode(te)
    ytr, yte = _labels(tr, label), _labels(te, label)
    out = {}
    for k in keys if keys is not None else sorted(zte):
        out[k] = linear_probe_accuracy(ztr[k], ytr, zte[k], yte)
    return out


def train_classifiers(
    data: MultimodalDataset | MultimodalBatch,
    *,
    label: str = "label",
    hidden: Sequence[int] = (128,),
    max_iter: int = 300,
    seed: int = 0,
) -> dict[str, Any]:
    """One classifier per modality trained on real data (for :func:`coherence`).

    A small sklearn ``MLPClassifier`` on the standardised, flattened observations (the MMVM
    reference trains a ResNet per modality; on this scale an MLP is the stand-in).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    batch = _as_batch(data)
    y = _labels(batch, label)
    out = {}
    for m in batch.modalities:
        clf = make_pipeline(
            StandardScaler(),
            MLPClassifier(
                hidden_layer_sizes=tuple(int(h) for h in hidden),
                max_iter=int(max_iter),
                early_stopping=True,
                random_state=seed,
            ),
        )
        with warnings.catch_warnings():
            # the iteration budget is the caller's choice; stopping at it is not an error
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(_flat(batch.obs[m], f"modality {m!r}"), y)
        out[m] = clf
    return out


@torch.no_grad()
def coherence(
    model: Any,
    data: MultimodalDataset | MultimodalBatch,
    classifiers: Mapping[str, Any],
    *,
    label: str = "label",
    sample: bool = True,
) -> dict[str, float]:
    """Cross-modal coherence: ``"<src>-><dst>"`` accuracies and their mean ``"mean"``.

    For every source modality the model imputes every other modality from the source alone
    (``model.impute(batch, [src], sample=sample)``: a latent drawn from the posterior, as in the
    reference) and the classifier of the target modality labels the generated data.
    """
    model.eval()
    batch = _as_batch(data)
    y = _labels(batch, label)
    missing = [m for m in model.modalities if m not in classifiers]
    if missing:
        raise ValueError(f"no classifier for modalities {missing}")
    out = {}
    for src in model.modalities:
        gen = model.impute(batch, [src], sample=sample)
        for dst in model.modalities:
            if dst == src:
                continue
            pred = classifiers[dst].predict(_flat(gen[dst], f"generated {dst!r}"))
            out[f"{src}->{dst}"] = float((pred == y).mean())
    out["mean"] = float(np.mean(list(out.values()))) if out else float("nan")
    return out


@torch.no_grad()
def reconstruction_nll(model: Any, data: MultimodalDataset | MultimodalBatch) -> dict[str, float]:
    """Held-out NLL per sample of each modality from the posterior mean, and the weighted total.

    Per-modality latents (independent, MMVM) reconstruct ``x_m`` from ``z_m``; a shared latent
    reconstructs every modality from the fused posterior of all available modalities.
    """
    model.eval()
    batch = _as_batch(data)
    post, present = model.posteriors(batch)
    fusion = model.fusion
    if fusion.per_modality_latents:
        z = {m: q.loc for m, q in post.items()}
    else:
        from pyrodyn.nn.fusion.base import SHARED

        z = {SHARED: fusion.posterior(post, present).loc}
    params = model.decode(z)
    out, total = {}, 0.0
    n = float(batch.num_sequences)
    for m in model.modalities:
        lp = model.likelihoods[m].log_prob(params[m], batch.obs[m], batch.mask[m])
        out[m] = float(-lp.sum() / n)
        total += model.modality_weights.get(m, 1.0) * out[m]
    out["total"] = total
    return out


@register_metric(
    "probe_accuracy",
    needs=("model", "data"),
    description="held-out linear-probe accuracy of each latent (latent, latent_<modality>)",
)
def probe_accuracy_metric(
    model: Any,
    data: MultimodalDataset,
    *,
    train_data: MultimodalDataset | None = None,
    label: str = "label",
    valid_fraction: float = 0.5,
    seed: int = 0,
) -> dict[str, float]:
    """:func:`probe_accuracies` fit on ``train_data`` (default: a random half of ``data``)."""
    if train_data is None:
        train_data, data = _split(data, valid_fraction, seed)
    return probe_accuracies(model, train_data, data, label=label)


@register_metric(
    "coherence",
    needs=("model", "data"),
    description="cross-modal generation accuracy judged by per-modality classifiers of real data",
    requires=(Imputes,),
)
def coherence_metric(
    model: Any,
    data: MultimodalDataset,
    *,
    train_data: MultimodalDataset | None = None,
    label: str = "label",
    valid_fraction: float = 0.5,
    seed: int = 0,
    hidden: Sequence[int] = (128,),
    max_iter: int = 300,
) -> dict[str, float]:
    """:func:`coherence` with classifiers trained on ``train_data`` (default: half of ``data``).

    ``hidden`` and ``max_iter`` configure the classifiers (:func:`train_classifiers`).
    """
    if train_data is None:
        train_data, data = _split(data, valid_fraction, seed)
    classifiers = train_classifiers(
        train_data, label=label, hidden=hidden, max_iter=max_iter, seed=seed
    )
    return coherence(model, data, classifiers, label=label)


@register_metric(
    "reconstruction_nll",
    needs=("model", "data"),
    description="held-out NLL per sample of each modality reconstructed from its posterior mean",
    requires=(Imputes,),
)
def reconstruction_metric(model: Any, data: MultimodalDataset) -> dict[str, float]:
    """:func:`reconstruction_nll`."""
    return reconstruction_nll(model, data)


def _split(
    data: MultimodalDataset, valid_fraction: float, seed: int
) -> tuple[MultimodalDataset, MultimodalDataset]:
    if not isinstance(data, MultimodalDataset):
        raise TypeError("without train_data, data must be a MultimodalDataset (to split it)")
    return data.split(valid_fraction, seed=seed)


#: The metrics of :func:`evaluate_static`, in order.
STATIC_METRICS: tuple[str, ...] = ("probe_accuracy", "coherence", "reconstruction_nll")


def evaluate_static(
    model: Any,
    data: MultimodalDataset,
    *,
    train_data: MultimodalDataset | None = None,
    metrics: Sequence[str] = STATIC_METRICS,
    label: str = "label",
) -> dict[str, Any]:
    """Registered model-level metrics of static multimodal data, keyed by metric name.

    The entry point for ``pyrodyn evaluate`` on static data: probes and coherence classifiers
    are fit on ``train_data`` (default: half of ``data``) and scored on ``data``.
    """
    import inspect

    from pyrodyn.metrics.base import get_metric

    out: dict[str, Any] = {}
    for name in metrics:
        spec = get_metric(name)
        if set(spec.needs) - {"model", "data"}:
            raise ValueError(
                f"metric {name!r} needs {list(spec.needs)}; static evaluation supplies only "
                "model and data"
            )
        params = inspect.signature(spec.fn).parameters
        kwargs: dict[str, Any] = {"model": model, "data": data}
        if "train_data" in params:
            kwargs["train_data"] = train_data
        if "label" in params:
            kwargs["label"] = label
        out[name] = spec.fn(**kwargs)
    return out
