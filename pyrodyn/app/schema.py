"""Typed schema of the fixed sections of a run configuration: data, fit, evaluate, seed, device.

Each section is a frozen dataclass (:class:`DataSection`, :class:`FitSection`,
:class:`EvaluateSection`, :class:`TopLevel`) whose fields carry their default and a checker that
states the type and range the key takes (:mod:`pyrodyn.app.checks`: ``Int``, ``Real``,
``Bool``, ``Text``, ...). :func:`check_config` runs them on a merged configuration and raises
:class:`~pyrodyn.exceptions.ConfigError` naming the dotted key, what it expects and what it got
(``fit.lr must be a float > 0, got 'fast' (str)``), before any data are read.

The rules follow what the YAML loader reads:

* an int is accepted where a float is expected (``lr: 1``, ``max_time: 600``);
* an integral float is accepted where an int is expected and becomes that int (``steps: 1e4``
  reads as ``10000.0``); any other float is refused (``batch_size: 2.9``);
* a string is never a number or a boolean (``window: '20'``, ``static: 'false'``);
* null only where the default is null (and ``data.standardize: null``, "no modality", as before).

Free-form parts (``model``, ``objective``, the contents of ``fit.schedules``, ``fit.lr_schedule``
and ``fit.select``, the option values of ``evaluate.options``) are checked when they are built
(:mod:`pyrodyn.app.factory`, :func:`pyrodyn.infer.fit`). ``evaluate.metrics`` and the metric
and option names under ``evaluate.options`` are checked here against the metric registry, so a
typo fails ``pyrodyn fit`` instead of the evaluation after it.

Plain dataclasses rather than pydantic: pydantic is not a dependency of pyrodyn, and one for
some thirty scalar keys is a cost every install pays; its default (lax) mode also coerces what
must be refused here (``'false'`` -> False, ``'20'`` -> 20), and its messages name its own
types rather than the configuration's keys.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from pyrodyn.app.checks import (
    Bool,
    Device,
    FilePath,
    Free,
    Int,
    Names,
    Real,
    Section,
    Text,
    close_match,
    config_error,
)
from pyrodyn.exceptions import ConfigError


def _optimizers() -> list[str]:
    from pyrodyn.infer.optim import OPTIMIZERS

    return list(OPTIMIZERS)


def _strategies() -> list[str]:
    from pyrodyn.infer.distributed import SUPPORTED_STRATEGIES

    return list(SUPPORTED_STRATEGIES)


def _clocks() -> list[str]:
    from pyrodyn.infer.schedules import CLOCKS

    return list(CLOCKS)


# ---------------------------------------------------------------------------- sections
@dataclass(frozen=True)
class DataSection:
    """``data``: the file, its modalities and how it is split (see :mod:`pyrodyn.app.config`)."""

    # required: resolve says how to set it
    path: Any = field(default=None, metadata={"check": FilePath()})
    # modality -> {likelihood: spec}: checked by resolve
    modalities: Any = field(default=None, metadata={"check": Free()})
    static: bool = field(default=False, metadata={"check": Bool()})
    dt: float = field(default=1.0, metadata={"check": Real(gt=0)})
    window: int | None = field(default=None, metadata={"check": Int(ge=1, nullable=True)})
    valid_fraction: float = field(default=0.1, metadata={"check": Real(ge=0, lt=1)})
    standardize: list[str] = field(
        default_factory=list, metadata={"check": Names(null_is_empty=True)}
    )


@dataclass(frozen=True)
class FitSection:
    """``fit``: keyword arguments of :func:`pyrodyn.infer.fit` (ranges as it checks them)."""

    steps: int = field(default=1000, metadata={"check": Int(ge=0)})
    lr: float = field(default=1e-3, metadata={"check": Real(gt=0)})
    optimizer: str = field(
        default="adam", metadata={"check": Text(choices=_optimizers, ignore_case=True)}
    )
    lr_schedule: Any = field(default=None, metadata={"check": Free()})
    # name -> schedule spec: checked by resolve / build
    schedules: Any = field(default_factory=dict, metadata={"check": Free()})
    batch_size: int = field(default=16, metadata={"check": Int(ge=1)})
    valid_every: int = field(default=100, metadata={"check": Int(ge=1)})
    clip_norm: float | None = field(default=5.0, metadata={"check": Real(gt=0, nullable=True)})
    checkpoint_every: int = field(default=500, metadata={"check": Int(ge=1)})
    max_time: float | None = field(default=None, metadata={"check": Real(gt=0, nullable=True)})
    progress: bool | None = field(default=None, metadata={"check": Bool(nullable=True)})
    max_nonfinite: int = field(default=3, metadata={"check": Int(ge=1)})
    devices: int = field(default=1, metadata={"check": Int(ge=1)})
    strategy: str = field(default="ddp", metadata={"check": Text(choices=_strategies)})
    schedule_clock: str = field(default="steps", metadata={"check": Text(choices=_clocks)})
    select: Any = field(default=None, metadata={"check": Free()})
    # rescale the trained dynamics' speed to the training recording (see build_calibration)
    calibrate: Any = field(default=None, metadata={"check": Free()})
    # a data-driven start of the model before training ({type: ridge, ...}; see build_init)
    init: Any = field(default=None, metadata={"check": Free()})
    # seeds fitted one after the other in the budget, the best fit.select score kept
    restarts: int = field(default=1, metadata={"check": Int(ge=1)})
    # an experiment logger beside history.csv (TensorBoard event files in RUN_DIR/tensorboard)
    logger: str | None = field(
        default=None, metadata={"check": Text(choices=("tensorboard",), nullable=True)}
    )


@dataclass(frozen=True)
class EvaluateSection:
    """``evaluate``: what ``pyrodyn evaluate`` generates and which metrics it computes."""

    steps: int | None = field(default=None, metadata={"check": Int(ge=1, nullable=True)})
    burn_in: int = field(default=0, metadata={"check": Int(ge=0)})
    trials: int = field(default=1, metadata={"check": Int(ge=1)})
    pe_steps: int = field(default=10, metadata={"check": Int(ge=1)})
    max_points: int = field(default=10000, metadata={"check": Int(ge=1)})
    prediction: str = field(default="default", metadata={"check": Text()})
    gmm_above: int = field(default=5, metadata={"check": Int(ge=0)})
    noise: bool | None = field(default=None, metadata={"check": Bool(nullable=True)})
    metrics: list[str] = field(
        default_factory=lambda: ["d_stsp", "d_h", "pe"], metadata={"check": Names()}
    )
    # metric -> {option: value}
    options: Any = field(default_factory=dict, metadata={"check": Section(nullable=True)})


@dataclass(frozen=True)
class TopLevel:
    """The top-level keys ``seed`` and ``device``."""

    seed: int = field(default=0, metadata={"check": Int(ge=0)})
    device: str = field(default="cpu", metadata={"check": Device()})


#: Section name -> its schema (``""``: the top-level keys).
SECTIONS: dict[str, type] = {
    "data": DataSection,
    "fit": FitSection,
    "evaluate": EvaluateSection,
    "": TopLevel,
}


def section_defaults(schema: type) -> dict[str, Any]:
    """The defaults of a section, in field order (fresh copies)."""
    return {f.name: getattr(schema(), f.name) for f in fields(schema)}


def check_section(schema: type, values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``values`` (every key of ``schema`` present) with each key checked and normalised.

    Raises:
        ConfigError: a value of the wrong type or out of range (named by its dotted key).
    """
    out = dict(values)
    for f in fields(schema):
        key = f"{where}.{f.name}" if where else f.name
        out[f.name] = f.metadata["check"](values[f.name], key)
    return out


# ---------------------------------------------------------------------------- cross checks
def _metric_options(spec: Any) -> set[str] | None:
    """Option names of a metric (None: it takes any keyword)."""
    params = inspect.signature(spec.fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    # the evaluators supply the metric's inputs and the static metrics' training split
    return set(params) - set(spec.needs) - {"train_data"}


def check_metrics(ev: Mapping[str, Any]) -> None:
    """``evaluate.metrics`` and ``evaluate.options`` name registered metrics and their options.

    Raises:
        ConfigError: an unregistered metric (with the registered ones), options that are not a
            mapping, or an option the metric does not take (with the ones it takes).
    """
    from pyrodyn.metrics import get_metric, list_metrics

    known = list_metrics()
    for i, name in enumerate(ev["metrics"]):
        if name not in known:
            raise ConfigError(
                f"evaluate.metrics[{i}] is {name!r}, which is not a registered metric"
                f"{close_match(name, known)}; registered metrics: {known}"
            )
    for name, opts in (ev["options"] or {}).items():
        key = f"evaluate.options.{name}"
        if name not in known:
            raise ConfigError(
                f"{key}: {name!r} is not a registered metric{close_match(str(name), known)}; "
                f"registered metrics: {known}"
            )
        if opts is None:  # the evaluators read null as no options
            continue
        if not isinstance(opts, Mapping):
            raise config_error(key, "a mapping of option -> value (or null)", opts)
        accepted = _metric_options(get_metric(name))
        unknown = [] if accepted is None else sorted(map(str, set(opts) - accepted))
        if unknown:
            takes = sorted(accepted)
            raise ConfigError(
                f"{key} has unknown keys {unknown}{close_match(unknown[0], takes)}; {name} "
                f"accepts {takes}"
            )


def check_config(cfg: dict[str, Any]) -> None:
    """Checks (and normalises, in place) the fixed sections of a merged configuration.

    Raises:
        ConfigError: the first value of a wrong type or range, named by its dotted key; a
            ``fit.schedule_clock: time`` without ``fit.max_time``; unknown metrics or options.
    """
    for where, schema in SECTIONS.items():
        if where:
            cfg[where] = check_section(schema, cfg[where], where)
        else:
            cfg.update(check_section(schema, {f.name: cfg[f.name] for f in fields(schema)}, ""))
    fit = cfg["fit"]
    if fit["schedule_clock"] == "time" and fit["max_time"] is None:
        raise ConfigError(
            "fit.schedule_clock is 'time', which needs fit.max_time (the budget in seconds the "
            "clock runs over); fit.max_time is null"
        )
    check_metrics(cfg["evaluate"])


__all__ = [
    "SECTIONS",
    "DataSection",
    "EvaluateSection",
    "FitSection",
    "TopLevel",
    "check_config",
    "check_metrics",
    "check_section",
    "section_defaults",
]
