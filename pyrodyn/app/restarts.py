"""``fit.restarts``: several seeds share one fit's budget; the best training selection score wins.

A time-budgeted DSR fit is a draw: whether a seed's PLRNN finds the attractor in the budget
varies from seed to seed, and choosing among checkpoints of one run cannot rescue a run that never
found it. ``fit.restarts: N`` fits the configured model N times, one after the other, from seeds
``seed, seed + 1000, seed + 2000, ...`` (spaced so that runs of neighbouring seeds share no
restart), each with an equal share of what is left of ``fit.max_time`` (each runs the whole
``fit.steps`` as its upper bound and its own schedules on its own clock), and keeps the restart
whose ``fit.select`` score, computed on the training data only, is lowest.

Each restart is a run directory ``RUN_DIR/restarts/K``; the kept one's checkpoint, history and
selection scores are copied into ``RUN_DIR``, ``RUN_DIR/restarts.csv`` lists every restart and
the run record (``run.restarts`` in ``config.yaml``) says which was kept.
"""

from __future__ import annotations

import copy
import csv
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Mapping
from typing import Any

from pyrodyn.app.rundir import INIT_REPORT
from pyrodyn.exceptions import ConfigError
from pyrodyn.infer.checkpoint import CHECKPOINT_FILE
from pyrodyn.infer.history import HISTORY_FILE
from pyrodyn.infer.loggers import TENSORBOARD_DIR
from pyrodyn.infer.selection import SELECTION_FILE, KeepBest
from pyrodyn.infer.state import FitResult

logger = logging.getLogger(__name__)

#: Folder of a run directory holding one run directory per restart.
RESTARTS_DIR = "restarts"

#: File listing the restarts of a run (``restart,seed,steps,elapsed,score,best_step,kept``).
RESTARTS_FILE = "restarts.csv"

#: Restart ``K`` of a run with seed ``S`` uses seed ``S + K * SEED_STRIDE``.
SEED_STRIDE = 1000

#: What the kept restart's directory contributes to the run directory.
_PROMOTED = (CHECKPOINT_FILE, HISTORY_FILE, SELECTION_FILE, INIT_REPORT, TENSORBOARD_DIR)

#: ``(config, run_dir) -> (result, selection callback)``: one fit into one run directory.
FitOnce = Callable[[dict[str, Any], str], tuple[FitResult, KeepBest | None]]


def check_restarts(cfg: Mapping[str, Any]) -> int:
    """``fit.restarts`` of a resolved configuration (1 when absent), checked.

    Raises:
        ConfigError: not an integer >= 1; or > 1 without ``fit.select`` (nothing would choose
            among the restarts) or with ``fit.devices`` > 1.
    """
    fit_cfg = cfg["fit"]
    value = fit_cfg.get("restarts", 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"fit.restarts must be an integer >= 1, got {value!r}")
    if value > 1 and not fit_cfg.get("select"):
        raise ConfigError(
            f"fit.restarts: {value} needs fit.select: the restarts are compared by its score on "
            "the training data"
        )
    if value > 1 and int(fit_cfg.get("devices", 1)) > 1:
        raise ConfigError(
            f"fit.restarts: {value} runs in single-process fits only; set fit.devices: 1"
        )
    return value


def fit_restarts(
    cfg: Mapping[str, Any],
    out_dir: str,
    fit_once: FitOnce,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[FitResult, list[dict[str, Any]]]:
    """Fits ``fit.restarts`` seeds into ``out_dir/restarts/K`` and promotes the best one.

    Restart ``K`` runs ``cfg`` with ``seed + K * SEED_STRIDE`` and, when ``fit.max_time`` is
    set, a budget of ``(max_time - elapsed) / (N - K)`` seconds, so that overruns of earlier
    restarts (a final selection score, set-up) come out of the later ones and the whole stays
    within about ``max_time``. A restart left with no time is skipped. The kept restart has the
    lowest finite ``fit.select`` score (the first on ties); with no finite score, restart 0 is
    kept.

    Args:
        cfg: the resolved configuration, with ``fit.restarts`` >= 2 and ``fit.select``.
        out_dir: the run directory (exists).
        fit_once: fits one configuration into one run directory.
        clock: seconds (monotonic), for the budget shares.

    Returns:
        The kept restart's :class:`FitResult` and one record per restart run: ``restart``,
        ``seed``, ``steps``, ``elapsed``, ``score`` (None when not finite), ``best_step``,
        ``kept``.
    """
    count = check_restarts(cfg)
    seed, max_time = int(cfg["seed"]), cfg["fit"].get("max_time")
    start = clock()
    records: list[dict[str, Any]] = []
    kept: tuple[float, int, FitResult] | None = None
    for k in range(count):
        sub = copy.deepcopy(dict(cfg))
        sub["seed"] = seed + k * SEED_STRIDE
        if max_time is not None:
            # restart 0 always runs; later ones share what is left
            left = float(max_time) - (clock() - start) if k else float(max_time)
            share = left / (count - k)
            if share <= 0:
                logger.warning("fit.restarts: no time left for restarts %d..%d", k, count - 1)
                break
            sub["fit"] = {**sub["fit"], "max_time": share}
        run_dir = os.path.join(out_dir, RESTARTS_DIR, str(k))
        os.makedirs(run_dir, exist_ok=False)
        result, selection = fit_once(sub, run_dir)
        score = math.inf if selection is None else float(selection.best_score)
        records.append(
            {
                "restart": k,
                "seed": sub["seed"],
                "steps": int(result.steps_done),
                "elapsed": round(float(result.elapsed), 3),
                "score": score if math.isfinite(score) else None,
                "best_step": None if selection is None else selection.best_step,
                "kept": False,
            }
        )
        logger.info("fit.restarts: restart %d (seed %d) scored %.4g", k, sub["seed"], score)
        if kept is None or score < kept[0]:
            kept = (score, k, result)
        else:
            del result  # only the kept model stays in memory
    assert kept is not None  # restart 0 always runs
    _, best, result = kept
    records[best]["kept"] = True
    if records[best]["score"] is None:
        logger.warning("fit.restarts: no restart had a finite selection score; kept restart 0")
    _promote(os.path.join(out_dir, RESTARTS_DIR, str(best)), out_dir)
    _write_table(records, os.path.join(out_dir, RESTARTS_FILE))
    logger.info("fit.restarts: kept restart %d (seed %d)", best, records[best]["seed"])
    return result, records


def _promote(source: str, out_dir: str) -> None:
    """Copies the kept restart's checkpoint, history and scores into the run directory."""
    for name in _PROMOTED:
        path = os.path.join(source, name)
        if os.path.isdir(path):
            shutil.copytree(path, os.path.join(out_dir, name))
        elif os.path.exists(path):
            shutil.copy2(path, os.path.join(out_dir, name))


def _write_table(records: list[dict[str, Any]], path: str) -> None:
    fields = ["restart", "seed", "steps", "elapsed", "score", "best_step", "kept"]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for row in records:
            writer.writerow({k: "" if row[k] is None else row[k] for k in fields})


__all__ = ["RESTARTS_DIR", "RESTARTS_FILE", "SEED_STRIDE", "check_restarts", "fit_restarts"]
