"""Configs of older pyrodyn versions: recipe keys under ``model:`` move into ``objective:``.

Training recipes (loss weights, input noise, crops, parity switches) moved from model constructors
into objectives (:mod:`pyrodyn.objectives`). An objective class lists the model keys it took over
in ``legacy_model_keys`` and turns them into its config spec with ``legacy_spec``. A config whose
``model:`` holds such keys (a file given to ``pyrodyn fit``, or the ``config.yaml`` of an old run
directory) is migrated when it is resolved: the keys the model class no longer accepts move into
``objective:`` and a :class:`ConfigMigrationWarning` says so. ``pyrodyn convert RUN_DIR``
writes the migrated configuration of a run directory back to its ``config.yaml``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from pyrodyn.app import factory
from pyrodyn.exceptions import ConfigError, PyrodynWarning
from pyrodyn.models.base import GenerativeModel


class ConfigMigrationWarning(PyrodynWarning):
    """A configuration written for an older pyrodyn was migrated in memory."""


def legacy_keys(model_spec: Mapping[str, Any]) -> tuple[type | None, dict[str, Any]]:
    """The model class of a ``model:`` spec and its keys that moved into the objective.

    A key moved when the model class does not accept it and its ``default_objective`` lists it in
    ``legacy_model_keys``.

    Returns:
        ``(model class or None when the type is unknown, {key: value} of the moved keys)``.
    """
    try:
        cls = factory.resolve(model_spec["type"], "GenerativeModel")
    except ValueError:
        return None, {}  # building the model reports the unknown type with the valid names
    if not (isinstance(cls, type) and issubclass(cls, GenerativeModel)):
        return None, {}
    accepted, _, _ = factory.accepted_parameters(cls)
    legacy = cls.default_objective.legacy_model_keys
    moved = {
        k: v for k, v in model_spec.items() if k != "type" and k not in accepted and k in legacy
    }
    return cls, moved


def _combine(
    spec: dict[str, Any], given: Mapping[str, Any], moved: Mapping[str, Any]
) -> dict[str, Any]:
    """``spec`` (from the moved keys) merged with the config's own ``objective:``."""
    ours = factory.resolve(spec["type"], "Objective")
    theirs = factory.resolve(given["type"], "Objective")
    if ours is not theirs:
        raise ConfigError(
            f"model keys {sorted(moved)} are options of the {ours.__name__} objective now, but "
            f"the config's objective is {theirs.__name__}; move them under objective: or drop them"
        )
    clash = sorted(k for k in spec if k != "type" and k in given and given[k] != spec[k])
    if clash:
        raise ConfigError(
            f"model.{clash[0]} and objective.{clash[0]} disagree ({spec[clash[0]]!r} vs "
            f"{given[clash[0]]!r}); {clash[0]} is an objective option now: set it under "
            "objective: only"
        )
    return {**spec, **given}


def migrate_objective(cfg: dict[str, Any]) -> dict[str, Any]:
    """Moves legacy recipe keys from ``cfg["model"]`` into ``cfg["objective"]`` (in place).

    Args:
        cfg: a configuration whose sections are filled (:func:`pyrodyn.app.config.resolve`).

    Returns:
        The moved ``{key: value}`` (empty when the config needed no migration).

    Raises:
        ConfigError: moved keys that contradict the config's own ``objective:``.
    """
    model = cfg.get("model")
    if not isinstance(model, dict) or "type" not in model:
        return {}
    cls, moved = legacy_keys(model)
    if not moved:
        return {}
    spec = dict(cls.default_objective.legacy_spec(dict(moved)))
    if cfg.get("objective") is not None:
        spec = _combine(spec, cfg["objective"], moved)
    for k in moved:
        del model[k]
    cfg["objective"] = spec
    warnings.warn(
        f"config migrated: model keys {sorted(moved)} of {cls.__name__} are objective options "
        f"now and moved to objective: {spec}. Write them under objective: in the config file "
        "(`pyrodyn convert RUN_DIR` rewrites the config.yaml of a run directory)",
        ConfigMigrationWarning,
        stacklevel=3,
    )
    return moved


__all__ = ["ConfigMigrationWarning", "legacy_keys", "migrate_objective"]
