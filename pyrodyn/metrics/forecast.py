"""Forecasting from a short context: per-step normalised MSE, off-grid queries, few-shot transfer.

The evaluation protocol of LaDID (Lagemann et al., ICLR 2024; spec ladid 3): condition on the
first ``context`` frames of held-out trajectories, predict the next ``horizon`` frames without
feeding anything back, and score each step by ``||y - y_hat||^2 / ||y||^2`` over the whole frame.
Extras the paper lacks (spec ladid 3 "suggested extras"): queries beyond the trained horizon,
queries at off-grid times, and few-shot transfer to a new constant with the dynamics network
frozen; the probes of the instance code live in :mod:`pyrodyn.metrics.instance_code` (re-exported
here).

Predictors are models that declare :class:`~pyrodyn.models.capabilities.ForecastsFromContext`
(``forecast(batch, times) -> {modality: (B, Q, *features)}``, LaDID) or plain callables with that
signature (baselines, other models). A model without the capability is refused by name.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.metrics.base import register_metric
from pyrodyn.metrics.instance_code import code_probe_r2, knn_probe_r2, linear_probe_r2
from pyrodyn.models.base import GenerativeModel
from pyrodyn.models.capabilities import ForecastsFromContext, require

Predictor = Callable[[MultimodalBatch, Tensor], Mapping[str, Tensor]]


def nmse_per_step(y_true: np.ndarray | Tensor, y_pred: np.ndarray | Tensor) -> np.ndarray:
    """Normalised MSE per step, averaged over trials.

    Args:
        y_true: ``(N, H, *features)``.
        y_pred: same shape.

    Returns:
        ``(H,)``: ``mean_i ||y_ih - y_hat_ih||^2 / ||y_ih||^2`` (norms over all features).
    """
    yt = np.asarray(torch.as_tensor(y_true).detach().cpu(), dtype=np.float64)
    yp = np.asarray(torch.as_tensor(y_pred).detach().cpu(), dtype=np.float64)
    if yt.shape != yp.shape or yt.ndim < 3:
        raise ValueError(
            f"y_true and y_pred must share a shape (trials, steps, *features), got {yt.shape} "
            f"and {yp.shape}"
        )
    n, h = yt.shape[:2]
    err = ((yt - yp) ** 2).reshape(n, h, -1).sum(-1)
    norm = (yt**2).reshape(n, h, -1).sum(-1)
    if (norm <= 0).any():
        raise ValueError("nMSE is undefined for all-zero target frames (||y|| = 0)")
    return (err / norm).mean(0)


def _predictor(model: Any) -> Predictor:
    if isinstance(model, ForecastsFromContext):
        return lambda batch, times: model.forecast(batch, times)
    if isinstance(model, GenerativeModel):  # a module is callable, but not a predictor
        require(model, ForecastsFromContext, "forecast from a context")
    if callable(model):
        return model
    raise TypeError(
        "model must declare the ForecastsFromContext capability or be a callable "
        f"(batch, times) -> predictions, got {type(model).__name__}"
    )


def _modality(data: MultimodalDataset, modality: str | None) -> str:
    if modality is None:
        return data.modalities[0]
    if modality not in data.modalities:
        raise ValueError(f"unknown modality {modality!r}; the data has {data.modalities}")
    return modality


def _check_lengths(data: MultimodalDataset, need: int, what: str) -> None:
    if data.static:
        raise ValueError("forecast metrics need sequences, got static data")
    if int(data.lengths.min()) < need:
        raise ValueError(
            f"{what} needs trajectories of at least {need} steps; the shortest has "
            f"{int(data.lengths.min())}"
        )


def baseline_forecast(context: Tensor, horizon: int, kind: str = "constant") -> Tensor:
    """Data-free forecasts from a context ``(N, C, *features)`` -> ``(N, horizon, *features)``.

    ``"constant"`` repeats the context mean, ``"persistence"`` repeats the last context frame,
    ``"zero"`` predicts zeros (nMSE exactly 1).
    """
    if kind == "constant":
        frame = context.mean(1, keepdim=True)
    elif kind == "persistence":
        frame = context[:, -1:]
    elif kind == "zero":
        frame = torch.zeros_like(context[:, -1:])
    else:
        raise ValueError(f"kind must be 'constant', 'persistence' or 'zero', got {kind!r}")
    return frame.expand(-1, horizon, *context.shape[2:])


def forecast_nmse_curve(
    model: Any,
    data: MultimodalDataset,
    *,
    context: int = 10,
    horizon: int = 50,
    modality: str | None = None,
    batch_size: int = 256,
) -> dict[str, Any]:
    """Per-step nMSE of forecasts from a ``context``-frame context, with baselines.

    Args:
        model: a model with ``forecast(batch, times)`` or such a callable (eval mode is the
            caller's business).
        data: held-out trajectories with at least ``context + horizon`` steps.
        context: C, frames the predictor conditions on.
        horizon: H, predicted steps after the context.
        modality: the scored modality (default: the data's first).
        batch_size: trials per forward pass.

    Returns:
        ``{"curve": (H,), "nmse": mean, "first10", "last10", "baseline_constant",
        "baseline_persistence", "curve_constant", "curve_persistence"}``.
    """
    if context < 1 or horizon < 1:
        raise ValueError(f"need context >= 1 and horizon >= 1, got {context}, {horizon}")
    m = _modality(data, modality)
    _check_lengths(data, context + horizon, f"a context of {context} + horizon of {horizon}")
    predict = _predictor(model)
    preds, trues, ctxs = [], [], []
    for s in range(0, data.num_trials, batch_size):
        idx = torch.arange(s, min(s + batch_size, data.num_trials))
        batch = data.batch(idx, window=context + horizon)
        with torch.no_grad():
            out = predict(batch, batch.times[:, context:])
        preds.append(out[m].detach().cpu())
        trues.append(batch.obs[m][:, context:].cpu())
        ctxs.append(batch.obs[m][:, :context].cpu())
    y, yhat, ctx = torch.cat(trues), torch.cat(preds), torch.cat(ctxs)
    curve = nmse_per_step(y, yhat)
    const = nmse_per_step(y, baseline_forecast(ctx, horizon, "constant"))
    pers = nmse_per_step(y, baseline_forecast(ctx, horizon, "persistence"))
    k = min(10, horizon)
    return {
        "curve": curve,
        "nmse": float(curve.mean()),
        "first10": float(curve[:k].mean()),
        "last10": float(curve[-k:].mean()),
        "baseline_constant": float(const.mean()),
        "baseline_persistence": float(pers.mean()),
        "curve_constant": const,
        "curve_persistence": pers,
    }


def offgrid_nmse_curve(
    model: Any,
    dense: MultimodalDataset,
    *,
    stride: int = 2,
    context: int = 10,
    horizon: int = 50,
    modality: str | None = None,
) -> dict[str, Any]:
    """NMSE at query times *between* the training grid points.

    ``dense`` is sampled ``stride`` times finer than the training data. The context is every
    ``stride``-th frame (the training grid); the queries are the in-between frames after the
    context, ``horizon`` training-grid steps deep.

    Returns:
        ``{"curve": ((stride - 1) * horizon,), "nmse", "on_grid_nmse"}`` (the latter at the
        grid frames of the same horizon, for comparison).
    """
    if int(stride) < 2:
        raise ValueError(f"stride must be >= 2 (a finer grid), got {stride}")
    m = _modality(dense, modality)
    need = stride * (context + horizon)
    _check_lengths(dense, need, f"off-grid queries with stride {stride}")
    predict = _predictor(model)
    batch = dense.batch(window=need)
    ctx_idx = torch.arange(context) * stride
    start = (context - 1) * stride + 1
    # up to the last grid point of the horizon; the stride - 1 frames after it are past it
    q_idx = torch.arange(start, need - stride + 1)
    off = q_idx[(q_idx % stride) != 0]
    on = q_idx[(q_idx % stride) == 0]
    cb = MultimodalBatch(
        obs={k: v[:, ctx_idx] for k, v in batch.obs.items()},
        mask={k: v[:, ctx_idx] for k, v in batch.mask.items()},
        times=batch.times[:, ctx_idx],
        lengths=torch.full((batch.num_sequences,), context, dtype=torch.long),
    )
    with torch.no_grad():
        out_off = predict(cb, batch.times[:, off])[m]
        out_on = predict(cb, batch.times[:, on])[m]
    curve = nmse_per_step(batch.obs[m][:, off], out_off)
    on_curve = nmse_per_step(batch.obs[m][:, on], out_on)
    return {"curve": curve, "nmse": float(curve.mean()), "on_grid_nmse": float(on_curve.mean())}


def few_shot_transfer(
    model: Any,
    new_train: MultimodalDataset,
    new_test: MultimodalDataset,
    *,
    shots: Iterable[int] = (0, 1, 5, 20),
    steps: int = 200,
    lr: float = 1e-3,
    batch_size: int = 16,
    horizon: int = 50,
    context: int = 10,
    freeze: Sequence[str] = ("dynamics",),
    modality: str | None = None,
    seed: int = 0,
) -> dict[int, float]:
    """NMSE on a new system after fine-tuning on ``n`` of its trajectories, parts frozen.

    For every ``n`` in ``shots`` a copy of ``model`` is fine-tuned for ``steps`` Adam steps on
    the first ``n`` trajectories of ``new_train`` (``model.loss(batch, horizon=horizon)``),
    with the submodules named in ``freeze`` (default the universal dynamics) held fixed;
    ``n = 0`` evaluates the model as is, so the new constant must come from the context alone.

    Returns:
        ``{n: nMSE over the horizon on new_test}``.
    """
    if int(steps) < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    children = dict(model.named_children())
    for name in freeze:
        if name not in children:
            raise ValueError(
                f"cannot freeze {name!r}: the model has no such submodule; its submodules are "
                f"{sorted(children)}"
            )
    out: dict[int, float] = {}
    window = context + horizon
    for n in shots:
        n = int(n)
        if n < 0 or n > new_train.num_trials:
            raise ValueError(f"shots must lie in [0, {new_train.num_trials}], got {n}")
        m = copy.deepcopy(model)
        if n > 0 and steps > 0:
            frozen = {id(p) for name in freeze for p in getattr(m, name).parameters()}
            params = [p for p in m.parameters() if id(p) not in frozen and p.requires_grad]
            opt = torch.optim.Adam(params, lr=lr)
            data = new_train.subset(torch.arange(n))
            gen = torch.Generator().manual_seed(seed + n)
            m.train()
            for name in freeze:
                getattr(m, name).eval()
            for _ in range(int(steps)):
                batch = data.sample_batch(
                    min(batch_size, max(n, 1) * 4), window=window, generator=gen
                )
                loss, _ = m.loss(batch, horizon=horizon)
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 5.0)
                opt.step()
        m.eval()
        out[n] = forecast_nmse_curve(
            m, new_test, context=context, horizon=horizon, modality=modality
        )["nmse"]
    return out


@register_metric(
    "forecast_nmse",
    needs=("model", "data"),
    description="per-step normalised MSE of forecasts from a short context (LaDID protocol), "
    "mean over the horizon, with constant and persistence baselines",
    requires=(ForecastsFromContext,),
)
def forecast_nmse_metric(
    model: Any,
    data: MultimodalDataset,
    *,
    context: int = 10,
    horizon: int = 50,
    modality: str | None = None,
) -> dict[str, float]:
    """:func:`forecast_nmse_curve` reduced to scalars."""
    r = forecast_nmse_curve(model, data, context=context, horizon=horizon, modality=modality)
    return {k: v for k, v in r.items() if isinstance(v, float)}


@register_metric(
    "offgrid_nmse",
    needs=("model", "data"),
    description="nMSE of forecasts at query times between the training grid points",
    requires=(ForecastsFromContext,),
)
def offgrid_nmse_metric(
    model: Any,
    data: MultimodalDataset,
    *,
    stride: int = 2,
    context: int = 10,
    horizon: int = 50,
    modality: str | None = None,
) -> dict[str, float]:
    """:func:`offgrid_nmse_curve` reduced to scalars (``data`` sampled ``stride`` times finer)."""
    r = offgrid_nmse_curve(
        model, data, stride=stride, context=context, horizon=horizon, modality=modality
    )
    return {"nmse": r["nmse"], "on_grid_nmse": r["on_grid_nmse"]}


__all__ = [
    "baseline_forecast",
    "code_probe_r2",
    "few_shot_transfer",
    "forecast_nmse_curve",
    "knn_probe_r2",
    "linear_probe_r2",
    "nmse_per_step",
    "offgrid_nmse_curve",
]
