"""Run configurations (YAML): schema, defaults, ``--set`` overrides and validation.

A configuration has these sections (every key is checked; an unknown key is an error that lists
the valid ones)::

    data:
      path: train.npz              # .npz with one array per modality (DESIGN.md data contract)
      modalities:                  # name -> likelihood spec (sizes are derived from the data)
        gaussian: {likelihood: {type: Gaussian}}
        ordinal: {likelihood: {type: Ordinal, num_categories: 7}}
      static: false                # samples without a time axis
      dt: 1.0                      # time step when the file has no `time` array
      window: 100                  # training window length (None: whole trials)
      valid_fraction: 0.1          # held-out trials, or the tail of a single recording (0: none)
      standardize: [gaussian]      # modalities z-scored on the training split (map recorded)
    model: {type: SVAE, latent_dim: 8, ...}   # `likelihoods` is injected from data.modalities
    objective: {type: TraceELBO, num_particles: 2}  # optional; absent: the model's default
    fit: {steps: 1000, lr: 1e-3, ...}         # keyword arguments of pyrodyn.infer.fit
    evaluate: {steps: null, burn_in: 0, metrics: [d_stsp, d_h, pe], options: {d_h: {sigma: 20}}}
    seed: 0
    device: cpu

The resolved configuration a run directory stores adds a ``run`` section (library versions, the
recorded standardizer, data shapes) and the sizes injected into each likelihood spec, so the
model can be rebuilt without the data file.

``objective`` names the training objective (a :class:`~pyrodyn.objectives.elbo.TermsELBO` class:
``TraceELBO``, ``MeanFieldELBO`` or a model's own objective) with its options; without it the
model trains with its ``default_objective``. Configs written before recipe options moved from
model constructors into objectives are migrated when resolved (:mod:`pyrodyn.app.migrate`).
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from pyrodyn.app.schema import (
    DataSection,
    EvaluateSection,
    FitSection,
    TopLevel,
    check_config,
    section_defaults,
)
from pyrodyn.exceptions import ConfigError

#: Defaults of every section (those of the fixed sections come from :mod:`pyrodyn.app.schema`).
DEFAULTS: dict[str, Any] = {
    "data": section_defaults(DataSection),
    "model": None,
    "objective": None,
    "fit": section_defaults(FitSection),
    "evaluate": section_defaults(EvaluateSection),
    **section_defaults(TopLevel),  # seed, device
    "run": {},
}

#: Keys allowed under ``data.modalities.<name>``.
MODALITY_KEYS = ("likelihood",)
_FREE_FORM = {
    "model",
    "objective",
    "run",
    "fit.schedules",
    "fit.lr_schedule",
    "fit.select",
    "evaluate.options",
}


class _Loader(yaml.SafeLoader):
    """Safe YAML loader that also reads ``1e-3`` as a float (YAML 1.2; PyYAML wants ``1.0e-3``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _yaml_load(text: Any) -> Any:
    return yaml.load(text, Loader=_Loader)


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a YAML mapping."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"config file {path!r} does not exist")
    with open(path) as f:
        try:
            cfg = _yaml_load(f)
        except yaml.YAMLError as err:
            raise ConfigError(f"{path!r} is not valid YAML: {err}".replace("\n", " ")) from err
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, dict):
        raise ConfigError(
            f"{path!r} must hold a mapping at the top level, got {type(cfg).__name__}"
        )
    return cfg


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"a.b.c=value"`` -> (``["a", "b", "c"]``, YAML-typed value)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key=value (e.g. fit.steps=100), got {item!r}")
    try:
        value = _yaml_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return [k for k in key.strip().split(".")], value


def apply_overrides(cfg: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``cfg`` with ``--set`` overrides applied (intermediate mappings are created)."""
    out = copy.deepcopy(dict(cfg))
    for item in overrides:
        keys, value = parse_override(item)
        node = out
        for i, k in enumerate(keys[:-1]):
            nxt = node.get(k)
            if nxt is None:
                nxt = node[k] = {}
            if not isinstance(nxt, dict):
                where = ".".join(keys[: i + 1])
                raise ConfigError(f"--set {item!r}: {where} is {nxt!r}, not a section")
            node = nxt
        node[keys[-1]] = value
    return out


def _merge(defaults: Any, given: Any, where: str) -> Any:
    if not isinstance(defaults, dict) or where in _FREE_FORM:
        return copy.deepcopy(given)
    if given is None:
        return copy.deepcopy(defaults)
    if not isinstance(given, dict):
        raise ConfigError(f"{where or 'config'} must be a mapping, got {given!r}")
    unknown = [k for k in given if k not in defaults]
    if unknown:
        name = f"section {where!r}" if where else "the top level"
        raise ConfigError(
            f"unknown key(s) {unknown} in {name} of the config; valid keys: {list(defaults)}"
        )
    out = {}
    for k, dv in defaults.items():
        sub = f"{where}.{k}" if where else k
        if k == "modalities" and where == "data":
            out[k] = copy.deepcopy(given.get(k))
        elif k in given:
            out[k] = _merge(dv, given[k], sub)
        else:
            out[k] = copy.deepcopy(dv)
    return out


def resolve(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Fills defaults, validates the structure and migrates a configuration.

    Model keys that an older pyrodyn took as constructor arguments and that are objective options
    now are moved into ``objective`` (with a :class:`~pyrodyn.app.migrate.ConfigMigrationWarning`).

    Every key of the fixed sections is checked against :mod:`pyrodyn.app.schema` (type and
    range; integral floats of int keys become ints, a single ``data.standardize`` or
    ``evaluate.metrics`` name a list), and the metrics and their options against the metric
    registry, so a bad value fails here, before any data are read.

    Raises:
        ConfigError: unknown keys (with the valid ones), missing ``data.path``,
            ``data.modalities`` or ``model.type``, values of the wrong type or range (named by
            their dotted key, with the expected type and the given value), unknown metrics or
            metric options.
    """
    out = _merge(DEFAULTS, dict(cfg), "")
    check_config(out)  # types and ranges of the fixed sections, metric names
    data = out["data"]
    if not data["path"]:
        raise ConfigError(
            "data.path is not set (set it in the config or with --set data.path=FILE)"
        )
    mods = data["modalities"]
    if not isinstance(mods, dict) or not mods:
        raise ConfigError(
            "data.modalities must map each modality name to {likelihood: {type: ...}}, got "
            f"{mods!r}"
        )
    for m, spec in mods.items():
        if not isinstance(spec, dict) or "likelihood" not in spec:
            raise ConfigError(
                f"data.modalities.{m} must be a mapping with a 'likelihood' spec, got {spec!r}"
            )
        unknown = [k for k in spec if k not in MODALITY_KEYS]
        if unknown:
            raise ConfigError(
                f"unknown key(s) {unknown} in data.modalities.{m}; valid keys: "
                f"{list(MODALITY_KEYS)}"
            )
        lik = spec["likelihood"]
        if isinstance(lik, str):
            spec["likelihood"] = lik = {"type": lik}
        if not isinstance(lik, dict) or "type" not in lik:
            raise ConfigError(
                f"data.modalities.{m}.likelihood must be a mapping with a 'type', got {lik!r}"
            )
    unknown = [m for m in data["standardize"] if m not in mods]
    if unknown:
        raise ConfigError(
            f"data.standardize names {unknown}, which are not modalities; modalities: {list(mods)}"
        )
    model = out["model"]
    if not isinstance(model, dict) or "type" not in model:
        raise ConfigError(f"model must be a mapping with a 'type' (e.g. SVAE), got {model!r}")
    if "likelihoods" in model:
        raise ConfigError(
            "model.likelihoods is built from data.modalities; set likelihoods there instead"
        )
    if not isinstance(out["fit"]["schedules"], dict):
        raise ConfigError(
            f"fit.schedules must map names to schedules, got {out['fit']['schedules']!r}"
        )
    objective = out["objective"]
    if isinstance(objective, str):
        out["objective"] = objective = {"type": objective}
    if objective is not None and (not isinstance(objective, dict) or "type" not in objective):
        raise ConfigError(
            "objective must be a mapping with a 'type' (e.g. {type: MeanFieldELBO}) or null, got "
            f"{objective!r}"
        )
    from pyrodyn.app.migrate import migrate_objective  # imports the models: only when resolving

    migrate_objective(out)
    return out


def to_plain(obj: Any) -> Any:
    """Converts numpy and torch scalars/arrays, tuples and paths to YAML-friendly Python data."""
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy arrays and scalars, torch tensors
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, str) and type(obj) is not str:  # e.g. torch.__version__
        return str(obj)
    return obj


def dump_yaml(cfg: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Writes a configuration atomically (temp file + rename)."""
    path = os.fspath(path)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        yaml.safe_dump(to_plain(cfg), f, sort_keys=False, default_flow_style=None)
    os.replace(tmp, path)


__all__ = [
    "DEFAULTS",
    "ConfigError",
    "apply_overrides",
    "dump_yaml",
    "load_yaml",
    "parse_override",
    "resolve",
    "to_plain",
]
