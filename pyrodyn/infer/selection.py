"""Model selection during fitting: keep the weights that score best, not the last ones.

A dynamical-systems reconstruction is judged by its free-running behaviour (attractor geometry,
power spectrum), which the training loss of teacher-forced models does not measure: two runs
with the same loss can end on a chaotic attractor and on a fixed point. Selecting the weights by
a free-run score on the *training* recording is standard practice in the DSR literature
(Brenner et al., ICML 2024; Hess et al., ICML 2023 select by D_stsp / D_H), and never looks at
held-out data.

:class:`KeepBest` is the generic callback (any ``score(model) -> float``, lower is better);
:class:`FreeRunScore` is the score for generative models of dynamics.
"""

from __future__ import annotations

import copy
import csv
import logging
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.infer.callbacks import Callback, FitState

logger = logging.getLogger(__name__)

#: File :class:`KeepBest` writes into a run directory.
SELECTION_FILE = "selection.csv"

#: Values of ``KeepBest(clock=...)``.
SELECTION_CLOCKS = ("steps", "schedule")


class KeepBest(Callback):
    """Scores the model every ``every`` steps and restores the best-scoring weights at the end.

    The final model is scored too (unless it was just scored), so the last weights are kept when
    they are the best. Restoring happens in ``on_fit_end``, before ``fit`` writes its final
    checkpoint, so a run directory holds the selected weights. A resumed fit starts selection
    afresh (scores are not stored in the checkpoint).

    Args:
        score: ``model -> float``, lower is better; NaN or inf never wins.
        every: scoring period, in units of ``clock``.
        start: first step (or schedule index) that may be scored; earlier weights are never
            kept.
        path: optional CSV file receiving ``step,time,score`` rows.
        clock: ``"steps"`` counts completed steps; ``"schedule"`` counts the index the fit's
            schedules use (:attr:`FitState.index`), which on the time clock is the fraction of
            ``max_time`` spent times ``steps``: ``start=2000, every=500`` of a 20000-step
            budget then score from 10 % of the budget on, every 2.5 % of it, whether the
            machine manages 5000 steps or 50000. A score is taken at the first step whose
            index reaches each multiple of ``every`` from ``start`` on (on the step clock the
            same steps as ``clock="steps"``).
        average: optional decay in (0, 1) of an exponential moving average of the weights
            (Polyak & Juditsky, SIAM J. Control Optim. 1992; Izmailov et al., UAI 2018, for
            its use with SGD-type optimisers): the average of every floating-point parameter
            and buffer is updated after each step, ``avg <- average * avg + (1 - average) *
            w``, and scored and kept *instead of* the live weights, which training goes on
            from. A large learning rate makes the live weights of a chaotic reconstruction
            jump between free-run behaviours from step to step; their average over the last
            ``1 / (1 - average)`` steps is a steadier candidate. None (default) scores the
            live weights.

    Attributes:
        scores: ``(step, score)`` pairs so far.
        best_step: step of the kept weights (None before any finite score).
        best_score: their score.
    """

    def __init__(
        self,
        score: Callable[[Any], float],
        *,
        every: int = 500,
        start: int = 0,
        path: str | os.PathLike | None = None,
        clock: str = "steps",
        average: float | None = None,
    ) -> None:
        if average is not None and not (0.0 < float(average) < 1.0):
            raise ValueError(f"average must be a decay in (0, 1) or None, got {average!r}")
        if clock not in SELECTION_CLOCKS:
            raise ValueError(f"clock must be one of {SELECTION_CLOCKS}, got {clock!r}")
        if not callable(score):
            raise TypeError(f"score must be a callable model -> float, got {score!r}")
        if int(every) < 1:
            raise ValueError(f"every must be >= 1, got {every!r}")
        if int(start) < 0:
            raise ValueError(f"start must be >= 0, got {start!r}")
        self.score, self.every, self.start = score, int(every), int(start)
        self.clock = clock
        self.average = None if average is None else float(average)
        self._avg: dict[str, torch.Tensor] | None = None  # the moving average, by state key
        self._float_keys: list[str] = []  # keys averaged (fixed at the first update)
        self._other_keys: list[str] = []  # integer buffers, copied
        # the first multiple of `every` at or after `start`, as the step clock scores
        self._first = -(-self.start // self.every) * self.every
        self._due = self._first  # next schedule index that triggers a score (clock="schedule")
        self.path = None if path is None else os.fspath(path)
        self.scores: list[tuple[int, float]] = []
        self.best_step: int | None = None
        self.best_score = math.inf
        self._best_state: dict[str, torch.Tensor] | None = None

    def on_fit_start(self, state: FitState) -> None:
        """Resets the selection (and the CSV file)."""
        self.scores, self.best_step, self.best_score, self._best_state = [], None, math.inf, None
        self._due = self._first
        self._avg = None
        if self.path is not None:
            with open(self.path, "w", newline="") as f:
                csv.writer(f).writerow(["step", "time", "score"])

    def _update_average(self, model: torch.nn.Module) -> None:
        live = model.state_dict()
        if self._avg is None:
            self._avg = {k: v.detach().clone() for k, v in live.items()}
            self._float_keys = [k for k, v in live.items() if v.is_floating_point()]
            self._other_keys = [k for k, v in live.items() if not v.is_floating_point()]
            return
        torch._foreach_lerp_(
            [self._avg[k] for k in self._float_keys],
            [live[k].detach() for k in self._float_keys],
            1.0 - self.average,
        )
        for k in self._other_keys:  # counters and other integer buffers: the latest
            self._avg[k].copy_(live[k])

    def _candidate(self, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        """The weights that are scored and kept: the average, or the live weights."""
        return model.state_dict() if self._avg is None else self._avg

    def _score(self, model: torch.nn.Module) -> float:
        if self._avg is None:
            return float(self.score(model))
        live = copy.deepcopy(model.state_dict())
        model.load_state_dict(self._avg)
        try:
            return float(self.score(model))
        finally:
            model.load_state_dict(live)

    def _evaluate(self, state: FitState) -> None:
        value = self._score(state.model)
        self.scores.append((state.step, value))
        state.record["select.score"] = value  # for loggers that run after this callback
        if self.path is not None:
            with open(self.path, "a", newline="") as f:
                csv.writer(f).writerow([state.step, f"{state.elapsed:.3f}", repr(value)])
        logger.info("selection score at step %d: %.4g", state.step, value)
        if math.isfinite(value) and value < self.best_score:
            self.best_score, self.best_step = value, state.step
            self._best_state = copy.deepcopy(self._candidate(state.model))

    def _position(self, state: FitState) -> int:
        return state.step if self.clock == "steps" else state.index

    def on_step_end(self, state: FitState) -> bool | None:
        """Updates the average, then scores every ``every`` steps (or indices) from ``start`` on."""
        if self.average is not None:
            self._update_average(state.model)
        if self.clock == "steps":
            if state.step >= self.start and state.step % self.every == 0:
                self._evaluate(state)
        elif state.index >= self._due:
            # the index may jump past several multiples between two steps: score once
            self._due = (state.index // self.every + 1) * self.every
            self._evaluate(state)
        return None

    def on_fit_end(self, state: FitState, reason: str) -> None:
        """Scores the final weights if needed, then loads the best ones into the model."""
        reached = self._position(state) >= self.start
        if reached and (not self.scores or self.scores[-1][0] != state.step):
            self._evaluate(state)
        if not self.scores:
            logger.info(
                "KeepBest: no %s reached start=%d; keeping the final weights",
                "step" if self.clock == "steps" else "schedule index",
                self.start,
            )
            return
        if self._best_state is None:
            logger.warning("KeepBest: no finite score; keeping the final weights")
            return
        state.model.load_state_dict(self._best_state)
        logger.info(
            "KeepBest: kept the weights of step %d (score %.4g)", self.best_step, self.best_score
        )


def _reference(data: MultimodalDataset, modality: str, max_steps: int | None) -> np.ndarray:
    """``(T, N)`` observed rows of ``modality``, trials concatenated, rows with NaN dropped."""
    if data.static:
        raise ValueError("a free-run score needs sequences; the data are static samples")
    if modality not in data.modalities:
        raise ValueError(f"modality {modality!r} is not in the data {data.modalities}")
    x = data.data[modality]
    if x.ndim != 3:
        raise ValueError(
            f"a free-run score needs vector observations (trials, time, features); "
            f"{modality!r} has shape {tuple(x.shape)}"
        )
    rows = [x[i, : int(data.lengths[i])] for i in range(data.num_trials)]
    ref = torch.cat(rows).double().numpy()
    ref = ref[np.isfinite(ref).all(axis=1)]
    if max_steps is not None:
        ref = ref[:max_steps]
    if ref.shape[0] < 2:
        raise ValueError(f"modality {modality!r} has fewer than 2 fully observed steps")
    return ref


class FreeRunScore:
    """Weighted sum of D_stsp and D_H between a free run of the model and a recording.

    The model generates ``trials`` runs of ``burn_in + steps`` steps, each from the encoder state
    of a ``window``-step window of the recording (windows spread evenly over the first trial;
    :meth:`GenerativeModel.generate`, its random draws isolated from the training streams), the
    burn-in is dropped, and ``modality``'s prediction is compared with that modality's observed
    rows (Brenner et al., ICML 2024, section 2.1-2.2 of specs/mtf.md): D_stsp on all runs pooled,
    D_H averaged over runs. A non-finite or diverged run scores ``inf``.

    ``prediction="mean"`` compares the likelihood's expected values instead of its default point
    prediction, which makes count and ordinal channels scorable (an ordinal channel's expected
    code moves continuously with the latent; its mode is a step function of it), so a
    recording without a continuous channel can still select among checkpoints.
    ``prediction="sample"`` draws the observations of the free run from the likelihood (the
    learned observation noise on top of the deterministic latent run), so a noisy recording is
    compared with a run that is just as noisy (as an echo state network's search adds its
    read-out residuals to its free runs).

    Several short runs from spread-out states are batched (about the cost of one run) and catch
    what one run misses: a long chaotic transient that ends on a fixed point, or a coexisting
    attractor, shows up in some of them.

    Args:
        data: the training recording (in the model's units, i.e. standardised as trained).
        modality: a vector modality, ``(trials, time, N)``.
        steps: generated steps scored.
        burn_in: transient steps dropped.
        window: steps of the recording given to the encoder.
        weights: metric -> weight, from ``d_stsp`` and ``d_h``.
        options: metric -> keyword options of :func:`pyrodyn.metrics.state_space.d_stsp` /
            :func:`pyrodyn.metrics.power_spectrum.d_h`.
        seed: seed of the generation's random draws.
        trials: number of runs, batched.
        prediction: the generated values compared, one of :attr:`PREDICTIONS` (passed to
            ``generate``; the recording is compared as observed).
    """

    METRICS = ("d_stsp", "d_h")
    PREDICTIONS = ("default", "mean", "mode", "sample")

    def __init__(
        self,
        data: MultimodalDataset,
        modality: str,
        *,
        steps: int = 10_000,
        burn_in: int = 1000,
        window: int = 200,
        weights: Mapping[str, float] | None = None,
        options: Mapping[str, Mapping[str, Any]] | None = None,
        seed: int = 0,
        trials: int = 1,
        prediction: str = "default",
    ) -> None:
        if prediction not in self.PREDICTIONS:
            raise ValueError(f"prediction must be one of {self.PREDICTIONS}, got {prediction!r}")
        if int(steps) < 2 or int(burn_in) < 0 or int(window) < 1 or int(trials) < 1:
            raise ValueError(
                f"need steps >= 2, burn_in >= 0, window >= 1, trials >= 1; got {steps}, "
                f"{burn_in}, {window}, {trials}"
            )
        weights = dict({"d_stsp": 1.0, "d_h": 1.0} if weights is None else weights)
        unknown = sorted(set(weights) - set(self.METRICS))
        if unknown or not weights:
            raise ValueError(
                f"weights must name metrics from {self.METRICS}, got {sorted(weights)}"
            )
        if any(not (w >= 0 and math.isfinite(w)) for w in weights.values()):
            raise ValueError(f"weights must be finite and >= 0, got {weights}")
        options = {k: dict(v) for k, v in (options or {}).items()}
        unknown = sorted(set(options) - set(self.METRICS))
        if unknown:
            raise ValueError(f"options must name metrics from {self.METRICS}, got {unknown}")
        self.reference = _reference(data, modality, None)
        self.modality = modality
        self.steps, self.burn_in, self.seed = int(steps), int(burn_in), int(seed)
        self.weights, self.options = weights, options
        self.trials, self.prediction = int(trials), prediction
        w = int(min(window, int(data.lengths[0])))
        starts = torch.linspace(0, int(data.lengths[0]) - w, self.trials).long()
        self.init = data.batch([0] * self.trials, start=starts, window=w)

    def metrics(self, model: Any) -> dict[str, float]:
        """The unweighted metrics of one free run."""
        from pyrodyn.metrics.power_spectrum import d_h
        from pyrodyn.metrics.state_space import d_stsp

        device = next(model.parameters()).device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(self.seed)
            gen = model.generate(
                self.steps,
                init=self.init.to(device),
                num_trials=self.trials,
                burn_in=self.burn_in,
                prediction=self.prediction,
            )
        x = gen[self.modality].detach().double().cpu().numpy()  # (trials, steps, N)
        if x.ndim != 3 or not np.all(np.isfinite(x)):
            return {k: math.inf for k in self.weights}
        out = {}
        for k in self.weights:
            opts = self.options.get(k, {})
            if k == "d_stsp":
                value = d_stsp(self.reference, x.reshape(-1, x.shape[-1]), **opts)
            else:
                value = float(np.mean([d_h(self.reference, xi, **opts) for xi in x]))
            out[k] = value if math.isfinite(value) else math.inf
        return out

    def __call__(self, model: Any) -> float:
        """The weighted sum of :meth:`metrics`."""
        return float(
            sum(self.weights[k] * v for k, v in self.metrics(model).items() if self.weights[k])
        )


__all__ = ["SELECTION_CLOCKS", "SELECTION_FILE", "FreeRunScore", "KeepBest"]
