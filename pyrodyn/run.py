"""Run directories: build data and a model from a configuration, fit, and load a run back.

A run directory holds ``config.yaml`` (the resolved configuration, with library versions, the
recorded standardizer and the sizes injected into each likelihood), ``history.csv``,
``checkpoint.pt`` (loadable with ``weights_only=True``), ``metrics.json`` and figures. Everything
here goes through :mod:`pyrodyn.factory`; no other library code turns strings into objects.
"""

from __future__ import annotations

import datetime
import inspect
import json
import logging
import math
import os
import platform
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyro
import torch

from pyrodyn import factory
from pyrodyn.config import ConfigError, dump_yaml, load_yaml, resolve, to_plain
from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset, Standardizer
from pyrodyn.infer.checkpoint import CHECKPOINT_FILE, load_checkpoint
from pyrodyn.infer.fit import HISTORY_FILE, FitResult, fit
from pyrodyn.infer.schedules import build_schedule
from pyrodyn.infer.selection import SELECTION_FILE, FreeRunScore, KeepBest
from pyrodyn.likelihoods.base import Likelihood

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"

# Sequences are encoded in chunks of this many trials (bounds memory on long datasets).
_CHUNK = 64


# ---------------------------------------------------------------------------- data
def versions() -> dict[str, str]:
    """Versions of Python and the libraries a run depends on."""
    import gpytorch

    import pyrodyn

    return {
        "pyrodyn": pyrodyn.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pyro": pyro.__version__,
        "gpytorch": gpytorch.__version__,
        "numpy": np.__version__,
    }


def load_data(
    cfg: Mapping[str, Any],
    path: str | os.PathLike | None = None,
    standardizer: Standardizer | None = None,
) -> MultimodalDataset:
    """The configured modalities from ``path`` (default ``data.path``).

    With a recorded ``standardizer`` the data are mapped with it.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a configured modality is absent (the message lists what the file holds).
    """
    data = cfg["data"]
    ds = MultimodalDataset.from_npz(
        data["path"] if path is None else path,
        list(data["modalities"]),
        static=bool(data["static"]),
        dt=float(data["dt"]),
    )
    if standardizer is not None and standardizer.mean:
        ds = ds.standardize(standardizer=standardizer)
    return ds


def prepare_data(
    cfg: Mapping[str, Any],
) -> tuple[MultimodalDataset, MultimodalDataset | None, Standardizer | None]:
    """Training and validation data (split, then standardised on the training part)."""
    data = cfg["data"]
    full = load_data(cfg)
    vf = data["valid_fraction"]
    if vf:
        train, valid = full.split(float(vf), seed=int(cfg["seed"]))
    else:
        train, valid = full, None
    standardizer = None
    if data["standardize"]:
        train = train.standardize(list(data["standardize"]))
        standardizer = train.standardizer
        if valid is not None:
            valid = valid.standardize(standardizer=standardizer)
    window = data["window"]
    if window is not None and not train.static and int(window) > train.num_steps:
        raise ConfigError(
            f"data.window is {window} but the training trials have {train.num_steps} steps"
        )
    return train, valid, standardizer


def _size_kwargs(cls: type, spec: Mapping[str, Any], shape: tuple[int, ...]) -> dict[str, Any]:
    """Constructor sizes derived from the data: ``feature_shape`` or ``num_channels``."""
    names, _, _ = factory.accepted_parameters(cls)
    out: dict[str, Any] = {}
    if "feature_shape" in names and "feature_shape" not in spec:
        out["feature_shape"] = list(shape)
    if "num_channels" in names and "num_channels" not in spec:
        if spec.get("one_hot"):
            out["num_channels"] = 1 if len(shape) == 1 else int(math.prod(shape[:-1]))
        else:
            out["num_channels"] = int(math.prod(shape))
    return out


def build_likelihoods(
    cfg: dict[str, Any], dataset: MultimodalDataset | None = None
) -> dict[str, Likelihood]:
    """One likelihood per configured modality.

    With a ``dataset`` the sizes (``feature_shape`` / ``num_channels``) missing from a spec are
    derived from the data and written into ``cfg`` (so a run can be rebuilt without the data);
    the built likelihood's feature shape must match the data's.
    """
    out: dict[str, Likelihood] = {}
    for m, mspec in cfg["data"]["modalities"].items():
        spec = mspec["likelihood"]
        if dataset is not None:
            cls = factory.resolve(spec["type"], "Likelihood")
            spec.update(_size_kwargs(cls, spec, dataset.feature_shape(m)))
        lik = factory.build(spec, category="Likelihood", _where=f"data.modalities.{m}.likelihood")
        if dataset is not None and tuple(lik.feature_shape) != dataset.feature_shape(m):
            raise ConfigError(
                f"the {type(lik).__name__} likelihood of modality {m!r} expects features "
                f"{tuple(lik.feature_shape)} per step, but the data has "
                f"{dataset.feature_shape(m)}"
            )
        out[m] = lik
    return out


def build_model(cfg: Mapping[str, Any], likelihoods: Mapping[str, Likelihood]) -> Any:
    """The model of ``cfg["model"]`` with ``likelihoods`` injected."""
    return factory.build(
        cfg["model"], category="GenerativeModel", _where="model", likelihoods=dict(likelihoods)
    )


def build_fit_kwargs(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of :func:`pyrodyn.infer.fit` from ``cfg["fit"]`` (schedules built)."""
    f = dict(cfg["fit"])
    f.pop("select", None)  # a callback that needs the data: see build_selection
    f["schedules"] = {k: build_schedule(v) for k, v in (f.get("schedules") or {}).items()}
    return f


def build_selection(
    cfg: Mapping[str, Any], train: MultimodalDataset, out_dir: str | None
) -> KeepBest | None:
    """The :class:`~pyrodyn.infer.selection.KeepBest` callback of ``fit.select`` (or None).

    ``fit.select`` keys: ``every``, ``start`` (steps), ``modality`` (default: the first
    Gaussian-likelihood modality), and :class:`~pyrodyn.infer.selection.FreeRunScore`'s
    ``steps``, ``burn_in``, ``trials``, ``weights``, ``options``. The score is computed on the
    training data only; scores go to ``selection.csv`` in the run directory.
    """
    spec = cfg["fit"].get("select")
    if not spec:
        return None
    if not isinstance(spec, Mapping):
        raise ConfigError(f"fit.select must be a mapping or null, got {spec!r}")
    spec = dict(spec)
    allowed = {"every", "start", "modality", "steps", "burn_in", "trials", "weights", "options"}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ConfigError(f"unknown keys {unknown} in fit.select; allowed: {sorted(allowed)}")
    modality = spec.pop("modality", None)
    if modality is None:
        from pyrodyn.likelihoods.gaussian import Gaussian

        gaussian = [
            m
            for m, ms in cfg["data"]["modalities"].items()
            if issubclass(factory.resolve(ms["likelihood"]["type"], "Likelihood"), Gaussian)
        ]
        if not gaussian:
            raise ConfigError("fit.select needs a modality (no Gaussian modality to default to)")
        modality = gaussian[0]
    every, start = spec.pop("every", 500), spec.pop("start", 0)
    score = FreeRunScore(
        train, modality, window=int(cfg["data"]["window"] or 200), seed=int(cfg["seed"]), **spec
    )
    path = None if out_dir is None else os.path.join(out_dir, SELECTION_FILE)
    return KeepBest(score, every=every, start=start, path=path)


# ---------------------------------------------------------------------------- fit
def fit_run(
    cfg: Mapping[str, Any],
    out_dir: str | os.PathLike,
    *,
    resume: bool = False,
) -> tuple[FitResult, dict[str, Any]]:
    """Fits the model of a configuration into a run directory.

    Args:
        cfg: a configuration (resolved here: defaults filled and validated).
        out_dir: the run directory (created).
        resume: continue the run in ``out_dir`` from its checkpoint.

    Returns:
        ``(FitResult, resolved configuration)``.

    Raises:
        ValueError: ``out_dir`` already holds a run and ``resume`` is False.
    """
    cfg = resolve(cfg)
    out_dir = os.fspath(out_dir)
    if not resume and os.path.exists(os.path.join(out_dir, CHECKPOINT_FILE)):
        raise ValueError(
            f"{out_dir!r} already holds a run (checkpoint.pt); pass --resume to continue it or "
            "choose another --out"
        )
    os.makedirs(out_dir, exist_ok=True)
    train, valid, standardizer = prepare_data(cfg)
    pyro.set_rng_seed(int(cfg["seed"]))  # reproducible initialisation
    likelihoods = build_likelihoods(cfg, train)
    model = build_model(cfg, likelihoods)
    cfg["run"] = {
        "versions": versions(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "standardizer": None if standardizer is None else standardizer.to_dict(),
        "feature_shapes": {m: list(train.feature_shape(m)) for m in train.modalities},
        "train_trials": train.num_trials,
        "train_steps": train.num_steps,
        "valid_trials": None if valid is None else valid.num_trials,
    }
    dump_yaml(cfg, os.path.join(out_dir, CONFIG_FILE))
    selection = build_selection(cfg, train, out_dir)
    result = fit(
        model,
        train,
        window=cfg["data"]["window"],
        valid_data=valid,
        device=cfg["device"],
        seed=int(cfg["seed"]),
        checkpoint_dir=out_dir,
        resume=resume,
        config=to_plain(cfg),
        callbacks=[] if selection is None else [selection],
        **build_fit_kwargs(cfg),
    )
    _plot_history(result.history, os.path.join(out_dir, "history.png"))
    return result, cfg


# ---------------------------------------------------------------------------- load
def load_run(run_dir: str | os.PathLike) -> tuple[Any, dict[str, Any], Standardizer | None]:
    """Rebuilds the model of a run directory and loads ``checkpoint.pt`` (``weights_only=True``).

    Returns:
        ``(model in eval mode on CPU, resolved config, standardizer or None)``.
    """
    run_dir = os.fspath(run_dir)
    cfg_path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"run directory {run_dir!r} does not exist")
    if not os.path.exists(cfg_path):
        raise FileNotFoundError(f"{run_dir!r} is not a run directory (no {CONFIG_FILE})")
    cfg = resolve(load_yaml(cfg_path))
    model = build_model(cfg, build_likelihoods(cfg))
    ckpt = load_checkpoint(os.path.join(run_dir, CHECKPOINT_FILE))
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    std = (cfg.get("run") or {}).get("standardizer")
    return model, cfg, None if not std else Standardizer.from_dict(std)


def _to_data_units(
    arrays: Mapping[str, torch.Tensor], standardizer: Standardizer | None
) -> dict[str, np.ndarray]:
    out = {}
    for m, x in arrays.items():
        x = x.detach().cpu().double()
        if standardizer is not None:
            x = standardizer.inverse(m, x)
        out[m] = x.numpy()
    return out


def init_batch(ds: MultimodalDataset, trials: int, window: int | None) -> MultimodalBatch:
    """Sequences whose first steps seed generation.

    Trial ``k % n`` for ``k < trials``; in a single recording, windows starting at evenly spaced
    points.
    """
    if ds.static:
        raise ValueError("generation needs sequences; the data are static samples")
    w = int(min(ds.num_steps, window or 256))
    if ds.num_trials == 1:
        last = int(ds.lengths[0]) - w
        starts = torch.linspace(0, max(last, 0), trials).long()
        return ds.batch(torch.zeros(trials, dtype=torch.long), start=starts, window=w)
    idx = torch.arange(trials) % ds.num_trials
    return ds.batch(idx, start=torch.zeros_like(idx), window=w)


def _generate(
    model: Any,
    init: MultimodalBatch,
    steps: int,
    trials: int,
    burn_in: int,
    noise: bool | None,
    prediction: str,
) -> dict[str, torch.Tensor]:
    if not getattr(model, "is_dynamical", False):
        raise ValueError(
            f"{type(model).__name__} has no latent dynamics to free-run; generate/evaluate need a "
            "dynamical model (SVAE, MTF, LaDID)"
        )
    kwargs: dict[str, Any] = {
        "init": init,
        "num_trials": trials,
        "burn_in": burn_in,
        "prediction": prediction,
    }
    if noise is not None:
        if "noise" not in inspect.signature(model.generate).parameters:
            raise ValueError(f"{type(model).__name__}.generate has no 'noise' option")
        kwargs["noise"] = bool(noise)
    with torch.no_grad():
        return model.generate(int(steps), **kwargs)


def generate_run(
    run_dir: str | os.PathLike,
    steps: int,
    *,
    trials: int = 1,
    burn_in: int = 0,
    init: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
) -> tuple[str, dict[str, np.ndarray]]:
    """Free-running generation in data units.

    Writes ``out`` (default ``RUN_DIR/generated.npz``): one array per modality
    ``(trials, steps, *features)`` and ``latent`` ``(trials, steps, D)``.
    """
    if int(steps) < 1 or int(trials) < 1 or int(burn_in) < 0:
        raise ValueError(
            f"need --steps >= 1, --trials >= 1, --burn-in >= 0; got {steps}, {trials}, {burn_in}"
        )
    model, cfg, std = load_run(run_dir)
    ds = load_data(cfg, init, std)
    gen = _generate(
        model,
        init_batch(ds, int(trials), cfg["data"]["window"]),
        steps,
        trials,
        burn_in,
        cfg["evaluate"]["noise"],
        cfg["evaluate"]["prediction"],
    )
    arrays = _to_data_units({m: gen[m] for m in model.modalities}, std)
    for k, v in gen.items():
        if k not in arrays:
            arrays[k] = v.detach().cpu().numpy()
    out = os.fspath(out or os.path.join(run_dir, "generated.npz"))
    np.savez(out, **arrays)
    return out, arrays


def encode_run(
    run_dir: str | os.PathLike,
    data: str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
) -> tuple[str, dict[str, np.ndarray]]:
    """Posterior means of every trial of ``data``, written to ``out``.

    The default output is ``RUN_DIR/encoded.npz``; steps beyond a trial's length are NaN.
    """
    model, cfg, std = load_run(run_dir)
    ds = load_data(cfg, data, std)
    parts: dict[str, list[np.ndarray]] = {}
    with torch.no_grad():
        for i in range(0, ds.num_trials, _CHUNK):
            idx = torch.arange(i, min(i + _CHUNK, ds.num_trials))
            batch = ds.batch(idx)
            enc = model.encode(batch)
            for k, v in enc.items():
                v = v.detach().cpu().double()
                if not ds.static and v.dim() >= 3 and v.shape[1] == ds.num_steps:
                    pad = ~batch.valid_steps().cpu()
                    v = v.masked_fill(pad.reshape(*pad.shape, *([1] * (v.dim() - 2))), math.nan)
                parts.setdefault(k, []).append(v.numpy())
    arrays = {k: np.concatenate(v, 0) for k, v in parts.items()}
    out = os.fspath(out or os.path.join(run_dir, "encoded.npz"))
    np.savez(out, **arrays)
    return out, arrays


# ---------------------------------------------------------------------------- evaluate
def _continuous_modalities(model: Any) -> list[str]:
    from pyrodyn.likelihoods.gaussian import Gaussian

    return [m for m in model.modalities if isinstance(model.likelihoods[m], Gaussian)]


def _series(ds: MultimodalDataset, m: str) -> list[np.ndarray]:
    """Valid steps of each trial of one modality ``(T_i, N)`` (features flattened)."""
    x = ds.data[m]
    return [
        x[i, : int(ds.lengths[i])].reshape(int(ds.lengths[i]), -1).double().numpy()
        for i in range(ds.num_trials)
    ]


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite(x) for x in v]
    return v


def evaluate_run(
    run_dir: str | os.PathLike,
    data: str | os.PathLike | None,
    *,
    out: str | os.PathLike | None = None,
    steps: int | None = None,
    burn_in: int | None = None,
) -> dict[str, Any]:
    """Generates from the model and computes the configured metrics against ``data``.

    ``d_stsp`` uses binning for Gaussian modalities of at most ``evaluate.gmm_above`` (5)
    dimensions and the GMM estimator above (averaged over Gaussian modalities); ``d_h`` the
    Gaussian modalities together; ``pe`` the model's n-step ``forecast`` (``evaluate.pe_steps``
    ahead, over at most ``evaluate.max_points`` start points; skipped for models whose
    ``forecast`` queries times from a context, like LaDID); metrics that need ``(model, data)``
    (``forecast_nmse``, ``code_probe_r2``) get the model and the evaluation data in the model's
    units. A model with a ``generation_limit`` (LaDID's time-encoding period) generates at most
    that many steps per trial, from more trials. Everything else is in data units.
    The result (written to ``out``, default ``RUN_DIR/metrics.json``) holds one value per metric
    name plus ``"evaluation"``: what was generated and which modalities each metric used.
    Runs on static data (``data.static``) get probes, coherence and held-out reconstruction
    instead (:func:`pyrodyn.static_evaluation.evaluate_static_run`; ``data`` may be None there).
    """
    from pyrodyn.metrics import get_metric

    model, cfg, std = load_run(run_dir)
    if cfg["data"]["static"]:
        from pyrodyn.static_evaluation import evaluate_static_run

        return evaluate_static_run(run_dir, data, out=out, loaded=(model, cfg, std))
    if data is None:
        raise ValueError("evaluating a sequence run needs --data FILE.npz")
    ev = cfg["evaluate"]
    ds_raw = load_data(cfg, data)
    if ds_raw.static:
        raise ValueError("evaluate needs sequences; the data are static samples")
    ds = ds_raw.standardize(standardizer=std) if std is not None and std.mean else ds_raw
    mods = _continuous_modalities(model)
    note = None
    if not mods:
        mods = list(model.modalities)
        note = "no Gaussian modality: metrics use every modality's default prediction"
    steps = int(ev["steps"] or sum(int(n) for n in ds.lengths)) if steps is None else int(steps)
    burn_in = int(ev["burn_in"]) if burn_in is None else int(burn_in)
    trials = int(ev["trials"])
    if steps < 1 or burn_in < 0 or trials < 1:
        raise ValueError(f"need steps >= 1, burn_in >= 0, trials >= 1; got {steps}, {burn_in}")
    x_true = {m: np.concatenate(_series(ds_raw, m), 0) for m in mods}
    wanted = list(ev["metrics"])
    options = dict(ev.get("options") or {})
    results: dict[str, Any] = {}
    details: dict[str, Any] = {}
    generated_info: dict[str, Any] | None = None
    x_gen: dict[str, np.ndarray] | None = None

    if any(get_metric(n).needs == ("x_true", "x_gen") for n in wanted):
        init, steps, trials, limited = _generation_plan(
            model, ds, cfg["data"]["window"], steps, trials, burn_in
        )
        gen = _generate(model, init, steps, trials, burn_in, ev["noise"], ev["prediction"])
        gen_units = _to_data_units({m: gen[m] for m in mods}, std)
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
    for name in wanted:
        spec = get_metric(name)
        opts = dict(options.get(name) or {})
        if name == "d_stsp":
            per, methods = {}, {}
            for m in mods:
                o = dict(opts)
                o.setdefault(
                    "method", "bins" if x_true[m].shape[1] <= int(ev["gmm_above"]) else "gmm"
                )
                methods[m] = o["method"]
                per[m] = float(spec.fn(x_true=x_true[m], x_gen=x_gen[m], **o))
            results[name] = float(np.mean(list(per.values())))
            details[name] = {
                "modalities": mods,
                "method": methods,
                "per_modality": per,
                "options": opts,
            }
        elif spec.needs == ("x_true", "x_gen"):
            xt = np.concatenate([x_true[m] for m in mods], 1)
            xg = np.concatenate([x_gen[m] for m in mods], 1)
            results[name] = float(spec.fn(x_true=xt, x_gen=xg, **opts))
            details[name] = {"modalities": mods, "options": opts}
        elif spec.needs == ("x_true", "forecasts"):
            if not callable(getattr(model, "forecast", None)):
                results[name] = None
                details[name] = {"skipped": f"{type(model).__name__} has no forecast()"}
                continue
            if "horizon" not in inspect.signature(model.forecast).parameters:
                # query-time models (LaDID) forecast from a context, not from every step
                results[name] = None
                details[name] = {
                    "skipped": f"{type(model).__name__}.forecast queries times from a context "
                    "instead of n-step forecasts from every step; use forecast_nmse"
                }
                continue
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
        elif spec.needs == ("model", "data"):
            # the model's own units (standardized data when the run standardizes)
            results[name] = spec.fn(model=model, data=ds, **opts)
            details[name] = {
                "units": "standardized" if std is not None and std.mean else "data",
                "options": opts,
            }
        else:
            raise ValueError(
                f"evaluate cannot supply the inputs {list(spec.needs)} of metric {name!r}; it "
                "supplies (x_true, x_gen), (x_true, forecasts) and (model, data)"
            )
    metrics = dict(results)
    metrics["evaluation"] = {
        "run": os.fspath(run_dir),
        "data": os.fspath(data),
        "units": "data",
        "generated": generated_info,
        "metrics": details,
    }
    if note:
        metrics["evaluation"]["note"] = note
    metrics = _finite(to_plain(metrics))
    out = os.fspath(out or os.path.join(run_dir, METRICS_FILE))
    with open(out, "w") as f:
        json.dump(metrics, f, indent=2)
    if x_gen is not None:
        _plot_states(x_true, x_gen, os.path.join(run_dir, "generated.png"))
    return metrics


def _generation_plan(
    model: Any,
    ds: MultimodalDataset,
    window: int | None,
    steps: int,
    trials: int,
    burn_in: int,
) -> tuple[MultimodalBatch, int, int, dict[str, Any] | None]:
    """Init batch, steps and trials that respect the model's ``generation_limit`` (if any).

    A model that can only generate a bounded number of steps after its context (LaDID: up to
    its time encoding's period) generates at most that many steps per trial, from more trials
    (distinct windows of the evaluation data), about the requested total.

    Returns:
        ``(init, steps, trials, limited)``; ``limited`` is None or what was changed and why.
    """
    init = init_batch(ds, trials, window)
    limit_fn = getattr(model, "generation_limit", None)
    limit = limit_fn(init) if callable(limit_fn) else None
    if limit is None or burn_in + steps <= limit:
        return init, steps, trials, None
    cap = int(limit) - burn_in
    if cap < 1:
        raise ValueError(
            f"{type(model).__name__} can generate at most {limit} steps after its context, "
            f"so burn_in={burn_in} leaves none to evaluate; lower evaluate.burn_in"
        )
    more = max(trials, math.ceil(steps * trials / cap))
    if ds.num_trials > 1:
        more = min(more, ds.num_trials)
    limited = {
        "requested_steps": steps,
        "requested_trials": trials,
        "generation_limit": int(limit),
        "reason": f"{type(model).__name__} generates at most {limit} steps after its context",
    }
    return init_batch(ds, more, window), cap, more, limited


def _prediction_error(
    model: Any,
    ds: MultimodalDataset,
    ds_raw: MultimodalDataset,
    std: Standardizer | None,
    mods: Sequence[str],
    horizon: int,
    max_points: int,
    fn: Any,
    opts: Mapping[str, Any],
) -> tuple[float, list[float], int]:
    """n-step error over up to ``max_points`` start points, trials weighted by their points."""
    curves, weights, used = [], [], 0
    with torch.no_grad():
        for i in range(ds.num_trials):
            if used >= max_points:
                break
            length = int(ds.lengths[i])
            w = min(length, max_points - used + horizon)
            if w <= horizon:
                continue
            batch = ds.batch(torch.tensor([i]), start=torch.tensor([0]), window=w)
            fc = model.forecast(batch, horizon)
            fc = _to_data_units({m: fc[m][0] for m in mods}, std)
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


# ---------------------------------------------------------------------------- figures
def _plot_history(history: Sequence[Mapping[str, float]], path: str) -> None:
    if not history:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # figures are optional
        return
    steps = [r["step"] for r in history]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, [r["loss"] for r in history], lw=0.8, label="train loss")
    valid = [(r["step"], r["valid_loss"]) for r in history if "valid_loss" in r]
    if valid:
        ax.plot(*zip(*valid), "o-", ms=3, label="valid loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss per observed step")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_states(
    x_true: Mapping[str, np.ndarray], x_gen: Mapping[str, np.ndarray], path: str
) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    m = next(iter(x_true))
    xt, xg = x_true[m][:5000], x_gen[m][:5000]
    d = min(xt.shape[1], 3)
    fig = plt.figure(figsize=(8, 4))
    for j, (x, title) in enumerate(((xt, f"{m}: data"), (xg, f"{m}: generated"))):
        if d == 3:
            ax = fig.add_subplot(1, 2, j + 1, projection="3d")
            ax.plot(x[:, 0], x[:, 1], x[:, 2], lw=0.3)
        else:
            ax = fig.add_subplot(1, 2, j + 1)
            ax.plot(x[:, : max(d, 1)], lw=0.5)
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


__all__ = [
    "CONFIG_FILE",
    "HISTORY_FILE",
    "METRICS_FILE",
    "build_likelihoods",
    "build_model",
    "encode_run",
    "evaluate_run",
    "fit_run",
    "generate_run",
    "init_batch",
    "load_data",
    "load_run",
    "prepare_data",
]
