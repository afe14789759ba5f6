"""What a resumed fit may change: how long and where it runs, never the model, data or seed.

A run directory is the record of how its model was trained, so ``pyrodyn fit --resume`` compares
the configuration it is given with the one the run recorded before anything is written:

- the model, objective, data (with the data file's content), seed and evaluation-independent
  parts of ``data`` must be equal; a moved data file is fine when its content is unchanged;
- how long and where the fit runs and what it logs (``fit.steps``, ``fit.max_time``, ``device``,
  ``fit.devices``, ``fit.strategy``, ``fit.progress``, ``fit.logger``, ``fit.checkpoint_every``,
  ``fit.valid_every``, ``fit.init``, ``fit.restarts`` of 1) and ``evaluate`` may change freely
  (a resume does not run the initialiser; a run fitted with ``fit.restarts`` > 1 is not
  resumable);
- the optimiser settings (every other ``fit`` key) may change only when the caller allows it.

Every change that goes ahead is recorded in the run's ``run.resumes`` list.
"""

from __future__ import annotations

import datetime
import hashlib
import os
from collections.abc import Mapping
from typing import Any

from pyrodyn.exceptions import ConfigError

#: Keys (dotted paths, or a prefix ending in ``.``) a resume may change freely.
FREE_KEYS = (
    "fit.steps",
    "fit.max_time",
    "fit.progress",
    "fit.checkpoint_every",
    "fit.valid_every",
    "fit.devices",
    "fit.strategy",
    "fit.logger",
    "fit.restarts",  # only 1 gets here: a run or resume with restarts > 1 is refused first
    "fit.init",  # a resume starts from the checkpoint: the initialiser does not run
    "fit.init.",
    "device",
    "evaluate.",
)

#: How a key set on one side only shows on the other in the changes.
UNSET = "<unset>"

#: Prefix of the keys a resume may change only with ``allow_changed_fit`` (the optimiser's).
FIT_PREFIX = "fit."


def file_digest(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """The SHA-256 of a file's content, in hex (what identifies a run's data file)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, Mapping) and obj:
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: obj}


def _is_free(key: str) -> bool:
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in FREE_KEYS)


def config_changes(recorded: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple]:
    """``{dotted key: (recorded value, new value)}`` for every entry that differs (not ``run``).

    A key present on one side only shows :data:`UNSET` on the other.
    """
    old_flat = {k: v for k, v in _flatten(recorded).items() if not k.startswith("run.")}
    new_flat = {k: v for k, v in _flatten(new).items() if not k.startswith("run.")}
    changes = {}
    for key in sorted(set(old_flat) | set(new_flat)):
        if key not in old_flat or key not in new_flat or old_flat[key] != new_flat[key]:
            changes[key] = (old_flat.get(key, UNSET), new_flat.get(key, UNSET))
    return changes


def check_resume(
    recorded: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    allow_changed_fit: bool = False,
    run_dir: str = "the run",
) -> dict[str, tuple]:
    """Refuses a resume that would change what the run was trained on; returns the changes.

    Args:
        recorded: the run's ``config.yaml`` (resolved, with its ``run`` record).
        new: the configuration of the resume (resolved and completed like the recorded one, with
            ``run.data_sha256`` of the data file it reads).
        allow_changed_fit: let optimiser settings (``fit.lr``, ``fit.schedules``, ...) change.
        run_dir: the run directory, for the message.

    Returns:
        The changes that go ahead, ``{dotted key: (recorded, new)}``.

    Raises:
        ConfigError: the model, objective, data or seed differ, or optimiser settings differ
            without ``allow_changed_fit``; the message lists every difference.
    """
    changes = config_changes(recorded, new)
    old_digest = (recorded.get("run") or {}).get("data_sha256")
    new_digest = (new.get("run") or {}).get("data_sha256")
    if old_digest is not None and new_digest is not None and old_digest != new_digest:
        changes["data (content of data.path)"] = (old_digest[:12], new_digest[:12])
    elif old_digest is not None and old_digest == new_digest:
        changes.pop("data.path", None)  # the file moved; its content is the same
    refused = {k: v for k, v in changes.items() if not _is_free(k)}
    if allow_changed_fit:
        refused = {k: v for k, v in refused.items() if not k.startswith(FIT_PREFIX)}
    if refused:
        lines = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in refused.items())
        fit_only = all(k.startswith(FIT_PREFIX) for k in refused)
        hint = (
            "pass --allow-changed-fit to continue with new optimiser settings (recorded in the run)"
            if fit_only
            else "a changed model, objective, data or seed is a new run: fit it into another --out"
        )
        raise ConfigError(f"cannot resume {run_dir}: the configuration differs ({lines}); {hint}")
    return changes


def resume_record(changes: Mapping[str, tuple], from_step: int) -> dict[str, Any]:
    """One entry of ``run.resumes``: when, from which step, and what changed."""
    return {
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "from_step": int(from_step),
        "changed": {k: [a, b] for k, (a, b) in changes.items()},
    }


__all__ = [
    "FIT_PREFIX",
    "FREE_KEYS",
    "UNSET",
    "check_resume",
    "config_changes",
    "file_digest",
    "resume_record",
]
