"""``fit.calibrate``: the time-scale calibration of a fit, built from the run config."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pyrodyn.app.assemble import SCORE_KEYS, score_modality
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.exceptions import ConfigError
from pyrodyn.infer.calibration import CALIBRATION_FILE, DEFAULT_FACTORS, TimeScaleCalibration
from pyrodyn.infer.selection import FreeRunScore

#: Keys of ``fit.calibrate``.
CALIBRATE_KEYS = frozenset({"factors", "refine", *SCORE_KEYS})


def build_calibration(
    cfg: Mapping[str, Any], train: MultimodalDataset, out_dir: str | None
) -> TimeScaleCalibration | None:
    """The :class:`~pyrodyn.infer.calibration.TimeScaleCalibration` of ``fit.calibrate`` (or None).

    ``fit.calibrate`` keys: ``factors`` (default 0.99-1.02 in steps of 0.005), ``refine``
    (default 1), ``modality`` and ``prediction`` (as in ``fit.select``) and the free-run
    score's ``steps`` (default 50000), ``burn_in`` (1000), ``trials`` (1), ``weights`` (default
    D_H alone) and ``options`` (default D_H sigma 20). ``true`` takes every default. Scored on
    the training data only; the scores go to ``calibration.csv`` in the run directory.
    """
    spec = cfg["fit"].get("calibrate")
    if spec is None or spec is False:
        return None
    if spec is True:
        spec = {}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"fit.calibrate must be a mapping, true or null, got {spec!r}")
    spec = dict(spec)
    unknown = sorted(set(spec) - CALIBRATE_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown keys {unknown} in fit.calibrate; allowed: {sorted(CALIBRATE_KEYS)}"
        )
    factors = spec.pop("factors", DEFAULT_FACTORS)
    refine = spec.pop("refine", 1)
    modality = score_modality(cfg, spec.pop("modality", None), spec.get("prediction", "default"))
    score_kw = {
        "steps": 50_000,
        "burn_in": 1000,
        "weights": {"d_h": 1.0},
        "options": {"d_h": {"sigma": 20.0}},
        **spec,
    }
    path = None if out_dir is None else os.path.join(out_dir, CALIBRATION_FILE)
    try:
        if not isinstance(factors, list | tuple):
            raise ValueError(f"factors must be a list of numbers, got {factors!r}")
        score = FreeRunScore(
            train,
            modality,
            window=int(cfg["data"]["window"] or 200),
            seed=int(cfg["seed"]),
            **score_kw,
        )
        return TimeScaleCalibration(score, factors, refine=refine, path=path)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"fit.calibrate: {err}") from err


__all__ = ["CALIBRATE_KEYS", "build_calibration"]
