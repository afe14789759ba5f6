"""Time-scale calibration: fit the speed of a trained model's free run to a recording.

A map learned from noisy recordings under teacher forcing can run systematically a little slow
or fast: on Lorenz-63 (noise sd 0.1 of the signal's) the shallow PLRNNs of MTF ran 0.5-1 % slow
in free runs, which shifts the spectral peaks that D_H compares (BENCHMARKS.md, issue 17). The
calibration rescales the step's increment, ``F(z) <- z + f (F(z) - z)``
(:meth:`~pyrodyn.dynamics.base.DynamicsModel.scale_increment`), scores free runs at a grid of
factors ``f`` against the *training* recording (:class:`~pyrodyn.infer.selection.FreeRunScore`,
by default on D_H alone) and folds the best factor into the weights. ``f = 1`` is always
scored, so the kept weights never score worse than the uncalibrated ones.
"""

from __future__ import annotations

import copy
import csv
import logging
import math
import os
import time
from collections.abc import Sequence
from typing import Any

from pyrodyn.dynamics.base import DynamicsModel, check_increment_factor
from pyrodyn.infer.callbacks import Callback, FitState
from pyrodyn.infer.selection import FreeRunScore

logger = logging.getLogger("pyrodyn.fit")

#: File the scored factors are written to (``factor,score``).
CALIBRATION_FILE = "calibration.csv"
#: Default grid: +-1-2 % around the learned speed.
DEFAULT_FACTORS: tuple[float, ...] = (0.99, 0.995, 1.0, 1.005, 1.01, 1.015, 1.02)


class TimeScaleCalibration(Callback):
    """Rescales a model's dynamics so its free runs best match a recording (a post-fit step).

    As a fit callback it calibrates once, in :meth:`on_fit_end` (after
    :class:`~pyrodyn.infer.selection.KeepBest` when listed after it), so the checkpoint holds the
    calibrated weights; :meth:`calibrate` also works on any trained model. Every factor is scored
    from the same weights; ``refine`` rounds then score the two midpoints around the best factor,
    halving the spacing each round.

    Args:
        score: the free-run score (lower is better), e.g. ``FreeRunScore(train, "x",
            steps=50000, weights={"d_h": 1.0}, options={"d_h": {"sigma": 20.0}})``.
        factors: increment factors scored (1.0 is added if missing); positive, at least two.
        refine: rounds of midpoint refinement around the best factor.
        path: optional CSV file for the scored factors.

    Raises:
        ValueError: fewer than two factors, a non-positive factor, or ``refine < 0``.
    """

    def __init__(
        self,
        score: FreeRunScore,
        factors: Sequence[float] = DEFAULT_FACTORS,
        *,
        refine: int = 1,
        path: str | os.PathLike | None = None,
    ) -> None:
        grid = sorted({check_increment_factor(f) for f in factors} | {1.0})
        if len(grid) < 2:
            raise ValueError(f"factors must hold at least one value besides 1.0, got {factors!r}")
        if isinstance(refine, bool) or int(refine) != refine or refine < 0:
            raise ValueError(f"refine must be an integer >= 0, got {refine!r}")
        self.score, self.factors, self.refine = score, grid, int(refine)
        self.path = None if path is None else os.fspath(path)
        self.scores: list[tuple[float, float]] = []
        self.best_factor = 1.0

    @property
    def num_scores(self) -> int:
        """Free-run scores one calibration computes (for time budgets)."""
        return len(self.factors) + 2 * self.refine

    @staticmethod
    def check_model(model: Any) -> None:
        """Fails unless ``model.dynamics`` is a DynamicsModel that can rescale its increment.

        Raises:
            TypeError: ``model`` has no ``dynamics`` DynamicsModel.
            NotImplementedError: its dynamics cannot rescale their increment.
        """
        dynamics = getattr(model, "dynamics", None)
        if not isinstance(dynamics, DynamicsModel):
            raise TypeError(
                f"time-scale calibration needs a model with a `dynamics` DynamicsModel, got "
                f"{type(model).__name__}"
            )
        copy.deepcopy(dynamics).scale_increment(1.0)  # raises where no fold is implemented

    def probe_seconds(self, model: Any) -> float:
        """Wall seconds of one score of ``model`` (a calibration costs ``num_scores`` of them)."""
        start = time.perf_counter()
        self.score(model)
        return time.perf_counter() - start

    def _score_at(self, model: Any, weights: dict[str, Any], factor: float) -> float:
        model.dynamics.load_state_dict(weights)
        if factor != 1.0:
            model.dynamics.scale_increment(factor)
        value = float(self.score(model))
        value = value if math.isfinite(value) else math.inf
        self.scores.append((factor, value))
        return value

    def calibrate(self, model: Any) -> float:
        """Scores the factors on ``model``, folds the best into its dynamics; returns it.

        Raises:
            TypeError: ``model`` has no ``dynamics`` (a DynamicsModel).
            NotImplementedError: its dynamics cannot rescale their increment.
        """
        self.check_model(model)
        dynamics = model.dynamics
        weights = copy.deepcopy(dynamics.state_dict())
        self.scores = []
        found = {f: self._score_at(model, weights, f) for f in self.factors}

        def best_so_far() -> float:  # ties go to the factor nearest the learned speed
            return min(found, key=lambda f: (found[f], abs(f - 1.0)))

        spacing = min(b - a for a, b in zip(self.factors, self.factors[1:], strict=False))
        for _ in range(self.refine):
            best = best_so_far()
            spacing /= 2
            for f in (best - spacing, best + spacing):
                if f > 0 and f not in found:
                    found[f] = self._score_at(model, weights, f)
        best = best_so_far()
        if not math.isfinite(found[best]):
            best = 1.0
            logger.warning("time-scale calibration: no finite score; keeping the learned speed")
        dynamics.load_state_dict(weights)
        if best != 1.0:
            dynamics.scale_increment(best)
        self.best_factor = best
        self._write()
        logger.info(
            "time-scale calibration: factor %.5g (score %.4g; %.4g at 1.0)",
            best,
            found[best],
            found[1.0],
        )
        return best

    def _write(self) -> None:
        if self.path is None:
            return
        with open(self.path, "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["factor", "score"])
            out.writerows([f"{a:.6g}", repr(b)] for a, b in self.scores)

    def on_fit_end(self, state: FitState, reason: str) -> None:
        """Calibrates the final (or kept) weights before the final checkpoint."""
        self.calibrate(state.model)


__all__ = ["CALIBRATION_FILE", "DEFAULT_FACTORS", "TimeScaleCalibration"]
