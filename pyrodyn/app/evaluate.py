"""``pyrodyn evaluate``: generate from a fitted run and compute the configured metrics.

The evaluator iterates a declared table: the metric registry says what each metric needs
(``needs``), which model capabilities it calls (``requires``) and whether it is scored per
modality (``per_modality``); :data:`SUPPLIES` says which capability of the model supplies each
kind of input. A metric whose capability the model does not declare is skipped (null in
``metrics.json``, with the reason under ``evaluation``); a run none of whose metrics apply is an
error naming the model and the capabilities.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from pyrodyn.app.generation import generate, generation_plan
from pyrodyn.app.outputs import METRICS_FILE, to_data_units, write_metrics
from pyrodyn.app.rundir import load_run
from pyrodyn.app.static_evaluation import evaluate_static_run
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.data.standardizer import Standardizer
from pyrodyn.metrics import get_metric
from pyrodyn.metrics.base import MetricSpec
from pyrodyn.models.capabilities import ForecastsAhead, ForecastsFromContext, Generates

logger = logging.getLogger(__name__)

TRAJECTORIES = ("x_true", "x_gen")
FORECASTS = ("x_true", "forecasts")
MODEL_DATA = ("model", "data")

#: ``needs`` of a metric -> the capability of the model that supplies it (None: any model).
SUPPLIES: dict[tuple[str, ...], type | None] = {
    TRAJECTORIES: Generates,  # a free run of the model
    FORECASTS: ForecastsAhead,  # n-step forecasts from every step
    MODEL_DATA: None,  # the model itself and the data in its units
}


def _stsp_options(x_true: np.ndarray, ev: Mapping[str, Any]) -> dict[str, Any]:
    return {"method": "bins" if x_true.shape[1] <= int(ev["gmm_above"]) else "gmm"}


#: Metric -> defaults of its options derived from one modality's data and ``evaluate``.
OPTION_DEFAULTS: dict[str, Callable[[np.ndarray, Mapping[str, Any]], dict[str, Any]]] = {
    "d_stsp": _stsp_options,
}


def skip_reason(model: Any, spec: MetricSpec) -> str | None:
    """Why ``model`` cannot supply metric ``spec`` (None: it can).

    Raises:
        ValueError: a metric whose inputs the evaluator cannot supply.
    """
    if spec.needs not in SUPPLIES:
        raise ValueError(
            f"evaluate cannot supply the inputs {list(spec.needs)} of metric {spec.name!r}; it "
            f"supplies {', '.join(str(n) for n in SUPPLIES)}"
        )
    supplier = SUPPLIES[spec.needs]
    caps = ((supplier,) if supplier is not None else ()) + tuple(spec.requires)
    missing = [c.__name__ for c in caps if not isinstance(model, c)]
    if not missing:
        return None
    reason = f"{type(model).__name__} does not declare the {', '.join(missing)} capability"
    if supplier is ForecastsAhead and isinstance(model, ForecastsFromContext):
        reason += (
            " (n-step forecasts from every step); it forecasts from a context "
            "(ForecastsFromContext): use forecast_nmse"
        )
    return reason


def _series(ds: MultimodalDataset, m: str) -> list[np.ndarray]:
    """Valid steps of each trial of one modality ``(T_i, N)`` (features flattened)."""
    x = ds.data[m]
    return [
        x[i, : int(ds.lengths[i])].reshape(int(ds.lengths[i]), -1).double().numpy()
        for i in range(ds.num_trials)
    ]


def _prediction_error(
    model: Any,
    ds: MultimodalDataset,
    ds_raw: MultimodalDataset,
    std: Standardizer | None,
    mods: Sequence[str],
    horizon: int,
    max_points: int,
    fn: Callable[..., Any],
    opts: Mapping[str, Any],
) -> tuple[float, list[float], int]:
    """n-step error over up to ``max_points`` start points, trials weighted by their points."""
    curves, weights, used = [], [], 0
    with torch.no_grad():
        for i in range(ds.num_trials):
            if used >= max_points:
                break
            w = min(int(ds.lengths[i]), max_points - used + horizon)
            if w <= horizon:
                continue
            batch = ds.batch(torch.tensor([i]), start=torch.tensor([0]), window=w)
            fc = model.forecast(batch, horizon)
            fc = to_data_units({m: fc[m][0] for m in mods}, std)
            fcat = np.concatenate([fc[m].reshape(w, horizon, -1) for m in mods], -1)
            xt = np.concatenate(
                [ds_raw.data[m][i, :w].reshape(w, -1).double().numpy() for m in mods], -1
            )
            curves.append(np.asarray(fn(x_true=xt, forecasts=fcat, n=None, **opts)))
            weights.append(w - horizon)
            used += w - horizon
    if not curves:
        raise ValueError(f"the evaluation data are too short for {horizon}-step predictions")
    curve = np.average(np.stack(curves), axis=0, weights=np.asarray(weights, dtype=float))
    return float(curve[horizon - 1]), [float(c) for c in curve], used


def _plot_generated(
    x_true: Mapping[str, np.ndarray],
    x_gen: Mapping[str, np.ndarray],
    dt: float,
    generated: Mapping[str, Any],
    path: str,
) -> None:
    """``generated.png`` of the first modality: :func:`pyrodyn.plots.plot_generated`."""
    from pyrodyn.diagnostics.trajectory import failure_note
    from pyrodyn.plots import plot_generated

    m = next(iter(x_true))
    try:
        plot_generated(
            x_true[m],
            x_gen[m],
            dt=None if dt == 1.0 else dt,  # data.dt's default 1.0: frequencies per step
            names=[f"{m}[{i}]" for i in range(x_true[m].shape[1])],
            unit="data units",
            labels=("evaluation data", "generated"),
            note=failure_note(x_true[m], x_gen[m]),  # a collapse or blow-up, in words
            title=(
                f"{m}: evaluation data vs free-running generation ({generated['trials']} x "
                f"{generated['steps']} steps after {generated['burn_in']} burn-in)"
            ),
            path=path,
        )
    except ValueError as err:  # a figure never fails an evaluation
        logger.warning("generated.png skipped: %s", err)


def evaluate_run(
    run_dir: str | os.PathLike,
    data: str | os.PathLike | None,
    *,
    out: str | os.PathLike | None = None,
    steps: int | None = None,
    burn_in: int | None = None,
) -> dict[str, Any]:
    """Generates from the model and computes the configured metrics against ``data``.

    Trajectory metrics (``d_stsp``, ``d_h``, ...) compare a free run with the modalities that
    have a continuous likelihood (every modality's default prediction when none has), in data
    units; a ``per_modality`` metric (``d_stsp``: binning up to ``evaluate.gmm_above``
    dimensions, the GMM estimator above) is averaged over them. ``pe`` uses the model's n-step
    ``forecast`` (``evaluate.pe_steps`` ahead, over at most ``evaluate.max_points`` start
    points). Metrics that need ``(model, data)`` get the evaluation data in the model's units.
    A model with a ``generation_limit`` (LaDID's time-encoding period) generates at most that
    many steps per trial, from more trials. The result (written to ``out``, default
    ``RUN_DIR/metrics.json``) holds one value per metric plus ``"evaluation"``: what was
    generated and which modalities each metric used. Static models get probes, coherence and
    held-out reconstruction instead (:func:`~pyrodyn.app.static_evaluation.evaluate_static_run`;
    ``data`` may be None there).

    Raises:
        ValueError: a sequence run without ``data``, static evaluation data, bad step counts.
        TypeError: none of the configured metrics applies to the model (the message names the
            capabilities it lacks).
    """
    run = load_run(run_dir)
    model, cfg, std = run.model, run.config, run.standardizer
    if model.is_static:
        return evaluate_static_run(run.path, data, out=out, loaded=run)
    if data is None:
        raise ValueError("evaluating a sequence run needs --data FILE.npz")
    ev = cfg["evaluate"]
    ds_raw = run.load_data(data, standardize=False)
    if ds_raw.static:
        raise ValueError("evaluate needs sequences; the data are static samples")
    ds = ds_raw.standardize(standardizer=std) if std is not None and std.mean else ds_raw
    mods = [m for m in model.modalities if model.likelihoods[m].continuous]
    note = None
    if not mods:
        mods = list(model.modalities)
        note = "no continuous modality: metrics use every modality's default prediction"
    steps = int(ev["steps"] or sum(int(n) for n in ds.lengths)) if steps is None else int(steps)
    burn_in = int(ev["burn_in"]) if burn_in is None else int(burn_in)
    trials = int(ev["trials"])
    if steps < 1 or burn_in < 0 or trials < 1:
        raise ValueError(f"need steps >= 1, burn_in >= 0, trials >= 1; got {steps}, {burn_in}")
    specs = {name: get_metric(name) for name in ev["metrics"]}
    skipped = {name: skip_reason(model, spec) for name, spec in specs.items()}
    skipped = {name: reason for name, reason in skipped.items() if reason is not None}
    if specs and len(skipped) == len(specs):
        raise TypeError(
            f"{type(model).__name__} cannot be evaluated with evaluate.metrics {list(specs)}: "
            + "; ".join(f"{n}: {r}" for n, r in skipped.items())
        )
    x_true = {m: np.concatenate(_series(ds_raw, m), 0) for m in mods}
    options = dict(ev.get("options") or {})
    results: dict[str, Any] = {n: None for n in skipped}
    details: dict[str, Any] = {n: {"skipped": r} for n, r in skipped.items()}
    generated_info: dict[str, Any] | None = None
    x_gen: dict[str, np.ndarray] | None = None
    if any(s.needs == TRAJECTORIES and n not in skipped for n, s in specs.items()):
        init, steps, trials, limited = generation_plan(
            model, ds, cfg["data"]["window"], steps, trials, burn_in
        )
        gen = generate(
            model,
            init,
            steps,
            trials=trials,
            burn_in=burn_in,
            prediction=ev["prediction"],
            noise=ev["noise"],
        )
        gen_units = to_data_units({m: gen[m] for m in mods}, std)
        x_gen = {m: v.reshape(trials * steps, -1) for m, v in gen_units.items()}
        generated_info = {
            "steps": steps,
            "burn_in": burn_in,
            "trials": trials,
            "init": "posterior mean at the first step of windows of the evaluation data",
            "prediction": ev["prediction"],
            "noise": ev["noise"],
        }
        if limited is not None:
            generated_info["limited"] = limited
    for name, spec in specs.items():
        if name in skipped:
            continue
        opts = dict(options.get(name) or {})
        if spec.needs == TRAJECTORIES and spec.per_modality:
            defaults = OPTION_DEFAULTS.get(name)
            per, used = {}, {}
            for m in mods:
                used[m] = {**(defaults(x_true[m], ev) if defaults else {}), **opts}
                per[m] = float(spec.fn(x_true=x_true[m], x_gen=x_gen[m], **used[m]))
            results[name] = float(np.mean(list(per.values())))
            details[name] = {"modalities": mods, "per_modality": per, "options": opts}
            for key in defaults(x_true[mods[0]], ev) if defaults else ():
                details[name][key] = {m: used[m][key] for m in mods}  # e.g. d_stsp's estimator
        elif spec.needs == TRAJECTORIES:
            xt = np.concatenate([x_true[m] for m in mods], 1)
            xg = np.concatenate([x_gen[m] for m in mods], 1)
            results[name] = float(spec.fn(x_true=xt, x_gen=xg, **opts))
            details[name] = {"modalities": mods, "options": opts}
        elif spec.needs == FORECASTS:
            horizon = int(opts.pop("n", ev["pe_steps"]))
            value, curve, points = _prediction_error(
                model, ds, ds_raw, std, mods, horizon, int(ev["max_points"]), spec.fn, opts
            )
            results[name] = value
            details[name] = {
                "modalities": mods,
                "n": horizon,
                "curve": curve,
                "start_points": points,
                "options": opts,
            }
        else:  # MODEL_DATA: the model's own units (standardized data when the run standardizes)
            results[name] = spec.fn(model=model, data=ds, **opts)
            details[name] = {
                "units": "standardized" if std is not None and std.mean else "data",
                "options": opts,
            }
    metrics = {n: results[n] for n in specs}
    metrics["evaluation"] = {
        "run": run.path,
        "data": os.fspath(data),
        "units": "data",
        "generated": generated_info,
        "metrics": {n: details[n] for n in specs},
    }
    if note:
        metrics["evaluation"]["note"] = note
    metrics = write_metrics(metrics, out or os.path.join(run.path, METRICS_FILE))
    if x_gen is not None:
        dt = float(cfg["data"].get("dt") or 1.0)
        _plot_generated(x_true, x_gen, dt, generated_info, os.path.join(run.path, "generated.png"))
    return metrics


__all__ = ["OPTION_DEFAULTS", "SUPPLIES", "evaluate_run", "skip_reason"]
