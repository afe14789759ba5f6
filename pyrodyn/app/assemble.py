"""A resolved configuration -> data, likelihoods, the model with its objective, fit arguments.

Every spec goes through :mod:`pyrodyn.app.factory`; no other code turns strings into objects.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from pyrodyn.app import factory
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.data.standardizer import Standardizer
from pyrodyn.dynamics.forcing import AdaptiveForcingAlpha
from pyrodyn.exceptions import ConfigError
from pyrodyn.infer.adaptive_forcing import AdaptiveForcingUpdate
from pyrodyn.infer.schedules import build_schedule
from pyrodyn.infer.selection import SELECTION_CLOCKS, SELECTION_FILE, FreeRunScore, KeepBest
from pyrodyn.likelihoods.base import Likelihood
from pyrodyn.models.base import GenerativeModel


# ---------------------------------------------------------------------------- data
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


def split_data(
    cfg: Mapping[str, Any], full: MultimodalDataset
) -> tuple[MultimodalDataset, MultimodalDataset | None]:
    """Training and validation parts of ``full`` as ``pyrodyn fit`` splits them (seeded)."""
    vf = cfg["data"]["valid_fraction"]
    if vf:
        return full.split(float(vf), seed=int(cfg["seed"]))
    return full, None


def prepare_data(
    cfg: Mapping[str, Any],
) -> tuple[MultimodalDataset, MultimodalDataset | None, Standardizer | None]:
    """Training and validation data (split, then standardised on the training part)."""
    data = cfg["data"]
    train, valid = split_data(cfg, load_data(cfg))
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


# ---------------------------------------------------------------------------- components
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


def build_model(cfg: Mapping[str, Any], likelihoods: Mapping[str, Likelihood]) -> GenerativeModel:
    """The model of ``cfg["model"]`` with ``likelihoods`` injected and ``cfg["objective"]`` set.

    Without an ``objective`` section the model keeps its default objective.
    """
    model = factory.build(
        cfg["model"], category="GenerativeModel", _where="model", likelihoods=dict(likelihoods)
    )
    if not isinstance(model, GenerativeModel):
        raise ConfigError(
            f"model: {cfg['model']['type']!r} built a {type(model).__name__}, not a pyrodyn "
            "GenerativeModel"
        )
    if cfg.get("objective") is not None:
        model.elbo = factory.build(cfg["objective"], category="Objective", _where="objective")
    return model


#: Keys of an adaptive forcing schedule ``fit.schedules.alpha: {type: adaptive, ...}``.
ADAPTIVE_KEYS = ("type", "gamma", "initial", "every", "batch_size", "window")


def _is_adaptive(spec: Any) -> bool:
    return isinstance(spec, Mapping) and spec.get("type") == "adaptive"


def _adaptive_schedule(name: str, spec: Mapping[str, Any]) -> AdaptiveForcingAlpha:
    """The :class:`AdaptiveForcingAlpha` of ``fit.schedules.<name>`` (only ``alpha``)."""
    where = f"fit.schedules.{name}"
    if name != "alpha":
        raise ConfigError(
            f"{where}: type 'adaptive' is the generalized forcing strength of teacher-forced "
            "models and may only be used for fit.schedules.alpha"
        )
    unknown = sorted(set(spec) - set(ADAPTIVE_KEYS))
    if unknown:
        raise ConfigError(f"unknown keys {unknown} in {where}; allowed: {list(ADAPTIVE_KEYS)}")
    try:
        return AdaptiveForcingAlpha(
            gamma=float(spec.get("gamma", 0.999)), initial=float(spec.get("initial", 1.0))
        )
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {err}") from err


def build_fit_kwargs(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of :func:`pyrodyn.infer.fit` from ``cfg["fit"]`` (schedules built).

    ``fit.schedules.alpha: {type: adaptive, ...}`` builds an
    :class:`~pyrodyn.dynamics.forcing.AdaptiveForcingAlpha`; the callback that updates it is
    :func:`build_adaptive_forcing`'s.
    """
    f = dict(cfg["fit"])
    f.pop("select", None)  # a callback that needs the data: see build_selection
    f.pop("logger", None)  # a callback writing into the run directory: see build_loggers
    f.pop("restarts", None)  # several fits: see pyrodyn.app.restarts
    f.pop("init", None)  # applied to the model before the fit: see build_init
    f.pop("calibrate", None)  # a post-fit callback that needs the data: see build_calibration
    f["schedules"] = {
        k: _adaptive_schedule(k, v) if _is_adaptive(v) else build_schedule(v)
        for k, v in (f.get("schedules") or {}).items()
    }
    return f


def build_adaptive_forcing(
    cfg: Mapping[str, Any], train: MultimodalDataset, schedules: Mapping[str, Any]
) -> list[AdaptiveForcingUpdate]:
    """The update callback of an adaptive ``fit.schedules.alpha`` (an empty list without one).

    ``fit.schedules.alpha: {type: adaptive, gamma: 0.999, initial: 1.0, every: 100,
    batch_size: 16, window: null}`` (defaults shown; ``window`` defaults to ``data.window``, or
    200 steps): alpha starts at ``initial`` and every ``every`` steps becomes
    ``max(1 - 1/G, gamma * alpha)``, G estimated on ``batch_size`` training windows (Hess et al.,
    ICML 2023). ``schedules`` are :func:`build_fit_kwargs`'s, so that the callback updates the
    schedule the fit evaluates.
    """
    spec = (cfg["fit"].get("schedules") or {}).get("alpha")
    if not _is_adaptive(spec):
        return []
    if int(cfg["fit"].get("devices", 1)) > 1:
        raise ConfigError(
            "fit.schedules.alpha: adaptive forcing runs in single-process fits only; set "
            "fit.devices: 1 (on several ranks only rank 0 would update alpha)"
        )
    alpha = schedules["alpha"]
    window = spec.get("window", cfg["data"]["window"] or 200)
    try:
        update = AdaptiveForcingUpdate(
            alpha,
            train,
            every=spec.get("every", 100),
            batch_size=spec.get("batch_size", 16),
            window=window,
            seed=int(cfg["seed"]),
        )
    except (TypeError, ValueError) as err:
        raise ConfigError(f"fit.schedules.alpha: {err}") from err
    return [update]


#: Initialisers ``fit.init: {type: ...}`` can name.
INIT_TYPES = ("ridge",)


def build_init(cfg: Mapping[str, Any]) -> Any:
    """The data-driven initialiser of ``fit.init`` (or None): ``model, data -> report``.

    ``fit.init: {type: ridge, ...}`` builds a :class:`~pyrodyn.models.mtf.ridge_init.RidgeInit`
    (MTF models; its keyword arguments, ``seed`` defaulting to the run's seed).
    """
    spec = cfg["fit"].get("init")
    if spec is None:
        return None
    if not isinstance(spec, Mapping) or spec.get("type") not in INIT_TYPES:
        raise ConfigError(
            f"fit.init must be null or a mapping with type one of {list(INIT_TYPES)}, got {spec!r}"
        )
    from pyrodyn.models.mtf.model import MTF
    from pyrodyn.models.mtf.ridge_init import RidgeInit

    if not issubclass(factory.resolve(cfg["model"]["type"], "GenerativeModel"), MTF):
        raise ConfigError(
            f"fit.init: ridge initialises MTF models; model.type is {cfg['model']['type']!r}"
        )
    kwargs = {k: v for k, v in spec.items() if k != "type"}
    if "score" in kwargs:
        raise ConfigError("fit.init.score is not a YAML option (draws are scored by D_stsp + D_H)")
    kwargs.setdefault("seed", int(cfg["seed"]))
    if "draws" in kwargs:
        kwargs["score"] = ridge_draw_score
    try:
        return RidgeInit(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"fit.init: {err}") from err


def ridge_draw_score(x_true: Any, x_gen: Any) -> float:
    """D_stsp + D_H of two ``(T, N)`` runs: the score of ``fit.init``'s ridge draws.

    D_stsp over 10 bins of ±2 sd (the GMM estimator above 5 dimensions, where bins are too
    many); D_H smoothed with sigma 20 per 100000 steps (at least 1).
    """
    from pyrodyn.metrics.power_spectrum import d_h
    from pyrodyn.metrics.state_space import d_stsp

    sigma = max(1.0, 20.0 * len(x_true) / 100_000)
    stsp = d_stsp(x_true, x_gen, method="auto", n_bins=10, bin_range="legacy")
    return stsp + d_h(x_true, x_gen, sigma=sigma)


def build_loggers(cfg: Mapping[str, Any], out_dir: str) -> list[Any]:
    """The experiment loggers of ``fit.logger`` as fit callbacks (none by default).

    ``tensorboard`` writes event files into ``OUT_DIR/tensorboard``.
    """
    kind = cfg["fit"].get("logger")
    if kind is None:
        return []
    from pyrodyn.infer.loggers import TENSORBOARD_DIR, TensorBoardLogger

    return [TensorBoardLogger(os.path.join(out_dir, TENSORBOARD_DIR))]


#: Keys of a free-run score's spec (``fit.select``, ``fit.calibrate``): the scored modality
#: and :class:`~pyrodyn.infer.selection.FreeRunScore`'s options.
SCORE_KEYS = frozenset(
    {"modality", "steps", "burn_in", "trials", "weights", "options", "prediction"}
)


def score_modality(cfg: Mapping[str, Any], modality: str | None, prediction: str) -> str:
    """``fit.select.modality``, or the first modality with a continuous likelihood.

    A discrete modality (counts, ordinal codes, classes) is scored with ``prediction: mean``: its
    expected values are continuous (then the default is the first modality if none is
    continuous).
    """
    mods = cfg["data"]["modalities"]
    kinds = {m: factory.resolve(ms["likelihood"]["type"], "Likelihood") for m, ms in mods.items()}
    if modality is None:
        for m, lik in kinds.items():
            if lik.continuous:
                return m
        if prediction == "mean":
            return next(iter(kinds))
        raise ConfigError(
            "fit.select needs a modality (no modality has a continuous likelihood to default to; "
            "discrete modalities are scored by their expected values with "
            "fit.select.prediction: mean)"
        )
    if modality not in kinds:
        raise ConfigError(f"fit.select.modality {modality!r} is not a modality; have {list(mods)}")
    if not kinds[modality].continuous and prediction != "mean":
        raise ConfigError(
            f"fit.select.modality {modality!r}: its {kinds[modality].__name__} likelihood is not "
            "continuous, and the free-run score compares continuous states; choose a modality "
            "with a continuous likelihood (Gaussian, Laplace), or compare its expected values "
            "with fit.select.prediction: mean"
        )
    return modality


def build_selection(
    cfg: Mapping[str, Any], train: MultimodalDataset, out_dir: str | None
) -> KeepBest | None:
    """The :class:`~pyrodyn.infer.selection.KeepBest` callback of ``fit.select`` (or None).

    ``fit.select`` keys: ``every``, ``start`` (steps, or schedule indices with
    ``clock: schedule``, which follows a time-clock fit's budget), ``clock``, ``modality``
    (default: the first modality with a continuous likelihood; a discrete one with
    ``prediction: mean``), and :class:`~pyrodyn.infer.selection.FreeRunScore`'s ``steps``,
    ``burn_in``, ``trials``, ``weights``, ``options``, ``prediction``, and ``average`` (a decay
    in (0, 1): score and keep a moving average of the weights, see
    :class:`~pyrodyn.infer.selection.KeepBest`). The score is computed on the training data
    only; scores go to ``selection.csv`` in the run directory.
    """
    spec = cfg["fit"].get("select")
    if not spec:
        return None
    if not isinstance(spec, Mapping):
        raise ConfigError(f"fit.select must be a mapping or null, got {spec!r}")
    spec = dict(spec)
    allowed = {"every", "start", "clock", "average", *SCORE_KEYS}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ConfigError(f"unknown keys {unknown} in fit.select; allowed: {sorted(allowed)}")
    prediction = spec.get("prediction", "default")
    if prediction not in FreeRunScore.PREDICTIONS:
        raise ConfigError(
            f"fit.select.prediction must be one of {FreeRunScore.PREDICTIONS}, got {prediction!r}"
        )
    modality = score_modality(cfg, spec.pop("modality", None), prediction)
    every, start = spec.pop("every", 500), spec.pop("start", 0)
    clock = spec.pop("clock", "steps")
    if clock not in SELECTION_CLOCKS:
        raise ConfigError(f"fit.select.clock must be one of {SELECTION_CLOCKS}, got {clock!r}")
    average = spec.pop("average", None)
    if average is not None and (
        isinstance(average, bool)
        or not isinstance(average, int | float)
        or not 0.0 < float(average) < 1.0
    ):
        raise ConfigError(f"fit.select.average must be a decay in (0, 1) or null, got {average!r}")
    score = FreeRunScore(
        train, modality, window=int(cfg["data"]["window"] or 200), seed=int(cfg["seed"]), **spec
    )
    path = None if out_dir is None else os.path.join(out_dir, SELECTION_FILE)
    return KeepBest(score, every=every, start=start, path=path, clock=clock, average=average)


__all__ = [
    "ADAPTIVE_KEYS",
    "INIT_TYPES",
    "SCORE_KEYS",
    "build_adaptive_forcing",
    "build_fit_kwargs",
    "build_init",
    "build_likelihoods",
    "build_model",
    "build_selection",
    "load_data",
    "prepare_data",
    "score_modality",
    "split_data",
]
