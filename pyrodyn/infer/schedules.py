"""Schedules: plain callables ``step -> float`` for KL weights, mixture weights and curricula.

``fit`` evaluates every schedule at the 0-based index of the step about to be taken and passes
the values to ``model.loss(batch, **values)``. Learning-rate schedules use the same callables as
multipliers of the base learning rate.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Schedule = Callable[[int], float]


def _check_steps(name: str, steps: int) -> int:
    if int(steps) < 1:
        raise ValueError(f"{name}: steps must be >= 1, got {steps}")
    return int(steps)


def _check_delay(name: str, delay: int) -> int:
    if int(delay) < 0:
        raise ValueError(f"{name}: delay must be >= 0, got {delay}")
    return int(delay)


def _finite(name: str, arg: str, value: float, low: float | None = None) -> float:
    """``float(value)``; raises naming ``name`` and ``arg`` if NaN, infinite or ``<= low``."""
    v = float(value)
    if not math.isfinite(v) or (low is not None and v <= low):
        need = "finite" if low is None else f"finite and > {low:g}"
        raise ValueError(f"{name}: {arg} must be {need}, got {value!r}")
    return v


class _Named:
    """A schedule with a readable repr (stored in logs) and equality by parameters."""

    def __init__(self, fn: Schedule, name: str, **params: Any) -> None:
        self._fn, self._name, self.params = fn, name, params

    def __call__(self, step: int) -> float:
        return float(self._fn(int(step)))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self._name}({args})"


def constant(value: float) -> Schedule:
    """``value`` at every step."""
    value = _finite("constant", "value", value)
    return _Named(lambda step: value, "constant", value=value)


def linear(start: float, end: float, steps: int, delay: int = 0) -> Schedule:
    """``start`` until ``delay``, then linear to ``end`` over ``steps`` steps, then ``end``."""
    steps, delay = _check_steps("linear", steps), _check_delay("linear", delay)
    start, end = _finite("linear", "start", start), _finite("linear", "end", end)

    def fn(step: int) -> float:
        frac = min(max(step - delay, 0) / steps, 1.0)
        return start + (end - start) * frac

    return _Named(fn, "linear", start=start, end=end, steps=steps, delay=delay)


def cosine(start: float, end: float, steps: int, delay: int = 0) -> Schedule:
    """Half-cosine from ``start`` to ``end`` over ``steps`` steps after ``delay``."""
    steps, delay = _check_steps("cosine", steps), _check_delay("cosine", delay)
    start, end = _finite("cosine", "start", start), _finite("cosine", "end", end)

    def fn(step: int) -> float:
        frac = min(max(step - delay, 0) / steps, 1.0)
        return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * frac))

    return _Named(fn, "cosine", start=start, end=end, steps=steps, delay=delay)


def exponential(start: float, end: float, steps: int, delay: int = 0) -> Schedule:
    """Geometric interpolation from ``start`` to ``end`` (both > 0) over ``steps`` steps."""
    steps, delay = _check_steps("exponential", steps), _check_delay("exponential", delay)
    start, end = _finite("exponential", "start", start), _finite("exponential", "end", end)
    if start <= 0 or end <= 0:
        raise ValueError(f"exponential: start and end must be positive, got {start}, {end}")

    def fn(step: int) -> float:
        frac = min(max(step - delay, 0) / steps, 1.0)
        return start * (end / start) ** frac

    return _Named(fn, "exponential", start=start, end=end, steps=steps, delay=delay)


def step_schedule(values: Sequence[float], milestones: Sequence[int]) -> Schedule:
    """Piecewise constant: ``values[i]`` from step ``milestones[i - 1]`` on.

    Args:
        values: ``len(milestones) + 1`` values.
        milestones: strictly increasing step indices.
    """
    values = [_finite("step_schedule", f"values[{i}]", v) for i, v in enumerate(values)]
    milestones = [int(m) for m in milestones]
    if len(values) != len(milestones) + 1:
        raise ValueError(
            f"step_schedule needs len(values) == len(milestones) + 1, got {len(values)} values "
            f"and {len(milestones)} milestones"
        )
    if any(b <= a for a, b in itertools.pairwise(milestones)):
        raise ValueError(f"step_schedule milestones must increase strictly, got {milestones}")
    return _Named(
        lambda step: values[bisect.bisect_right(milestones, step)],
        "step_schedule",
        values=values,
        milestones=milestones,
    )


def horizon_curriculum(
    total_steps: int,
    horizons: Sequence[int] = (1, 2, 4, 8, 16, 32, 50),
    final_fraction: float = 0.4,
) -> Schedule:
    """LaDID's query-horizon curriculum (spec ladid 1.8) as a schedule ``step -> horizon``.

    The horizons are visited in order; the last one gets ``final_fraction`` of the steps (the
    spec's advice for short budgets, since the full horizon is what is evaluated), the others
    share the rest equally. Pass it as ``fit(..., schedules={"horizon": ...})`` (config:
    ``fit.schedules.horizon: {type: horizon_curriculum, total_steps: ..., horizons: [...]}``).

    Args:
        total_steps: number of optimisation steps of the run.
        horizons: increasing query horizons.
        final_fraction: share of the steps spent at the last horizon, in (0, 1].
    """
    hs = [int(h) for h in horizons]
    if not hs or any(h < 1 for h in hs) or any(b <= a for a, b in itertools.pairwise(hs)):
        raise ValueError(f"horizons must be increasing positive ints, got {tuple(horizons)}")
    if not 0.0 < final_fraction <= 1.0:
        raise ValueError(f"final_fraction must lie in (0, 1], got {final_fraction}")
    if int(total_steps) < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    early = int(total_steps) * (1.0 - final_fraction)
    per = early / max(len(hs) - 1, 1)
    milestones = [round(per * (i + 1)) for i in range(len(hs) - 1)]
    # strictly increasing milestones even for tiny budgets
    for i in range(1, len(milestones)):
        milestones[i] = max(milestones[i], milestones[i - 1] + 1)
    return step_schedule(hs, milestones)


def multistep_lr(milestones: Sequence[int], gamma: float = 0.1) -> Schedule:
    """Learning-rate multiplier ``gamma ** (number of milestones <= step)``."""
    milestones = sorted(int(m) for m in milestones)
    gamma = _finite("multistep_lr", "gamma", gamma, low=0.0)
    return _Named(
        lambda step: gamma ** bisect.bisect_right(milestones, step),
        "multistep_lr",
        milestones=milestones,
        gamma=gamma,
    )


def cosine_lr(steps: int, min_factor: float = 0.0, warmup: int = 0) -> Schedule:
    """Learning-rate multiplier: linear warm-up, then cosine decay from 1 to ``min_factor``."""
    steps = _check_steps("cosine_lr", steps)
    warmup = _check_delay("cosine_lr", warmup)
    min_factor = _finite("cosine_lr", "min_factor", min_factor)
    if min_factor < 0:
        raise ValueError(f"cosine_lr: min_factor must be >= 0, got {min_factor!r}")

    def fn(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        frac = min((step - warmup) / max(steps - warmup, 1), 1.0)
        return min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * frac))

    return _Named(fn, "cosine_lr", steps=steps, min_factor=min_factor, warmup=warmup)


_SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "constant": constant,
    "linear": linear,
    "cosine": cosine,
    "exponential": exponential,
    "step": step_schedule,
    "horizon_curriculum": horizon_curriculum,
}


def build_schedule(spec: float | int | Mapping[str, Any] | Schedule) -> Schedule:
    """A schedule from a number (constant), a callable, or ``{"type": name, **kwargs}``.

    Used by the factory and the command line; library code takes callables.
    """
    if callable(spec):
        return spec
    if isinstance(spec, bool):
        raise TypeError(f"a schedule must be a number, a mapping or a callable, got {spec!r}")
    if isinstance(spec, (int, float)):
        return constant(spec)
    if not isinstance(spec, Mapping):
        raise TypeError(f"a schedule must be a number, a mapping or a callable, got {spec!r}")
    kind = spec.get("type")
    if kind not in _SCHEDULES:
        raise ValueError(f"unknown schedule type {kind!r}; valid types: {sorted(_SCHEDULES)}")
    kwargs = {k: v for k, v in spec.items() if k != "type"}
    try:
        return _SCHEDULES[kind](**kwargs)
    except TypeError as err:
        import inspect

        accepted = list(inspect.signature(_SCHEDULES[kind]).parameters)
        raise ValueError(
            f"schedule {kind!r} got arguments {sorted(kwargs)}; it accepts {accepted}"
        ) from err


def build_lr_schedule(spec: Mapping[str, Any] | Schedule | None, *, steps: int) -> Schedule | None:
    """Learning-rate multiplier ``step -> float`` from a spec.

    Accepts None, a callable, ``{"type": "multistep", "milestones": [...], "gamma": 0.1}``,
    ``{"type": "cosine", "min_factor": 0.0, "warmup": 0}`` or ``{"type": "constant"}``.
    """
    if spec is None or callable(spec):
        return spec
    if not isinstance(spec, Mapping):
        raise TypeError(f"lr_schedule must be None, a mapping or a callable, got {spec!r}")
    kind = spec.get("type")
    kwargs = {k: v for k, v in spec.items() if k != "type"}
    builders: dict[str, Callable[..., Schedule]] = {
        "multistep": multistep_lr,
        "cosine": lambda **kw: cosine_lr(kw.pop("steps", steps), **kw),
        "constant": lambda: constant(1.0),
    }
    if kind not in builders:
        raise ValueError(f"unknown lr_schedule type {kind!r}; valid types: {sorted(builders)}")
    try:
        return builders[kind](**kwargs)
    except TypeError as err:
        raise ValueError(f"lr_schedule {kind!r} got invalid arguments {sorted(kwargs)}") from err
    except ValueError as err:  # a factor out of range: say which argument of fit it came from
        raise ValueError(f"lr_schedule {kind!r}: {err}") from err


#: Values of ``fit(..., schedule_clock=...)``.
CLOCKS = ("steps", "time")


def check_clock(clock: str, max_time: float | None) -> None:
    """Raises ValueError for an unknown schedule clock or a time clock without a time budget."""
    if clock not in CLOCKS:
        raise ValueError(f"schedule_clock must be one of {CLOCKS}, got {clock!r}")
    if clock == "time" and max_time is None:
        raise ValueError('schedule_clock="time" needs max_time (the budget the clock runs over)')


def schedule_index(
    clock: str, step: int, steps: int, elapsed: float, elapsed0: float, max_time: float | None
) -> int:
    """The index at which schedules are evaluated for the step about to be taken.

    Args:
        clock: ``"steps"`` (the 0-based ``step``) or ``"time"``.
        step: completed steps.
        steps: the step budget.
        elapsed: training seconds so far, resumed segments included.
        elapsed0: seconds done before this call (a resumed run).
        max_time: this call's time budget in seconds.

    Returns:
        ``step``, or with the time clock the larger of ``step`` and
        ``floor(steps * elapsed / (elapsed0 + max_time))``, at most ``steps - 1``.
    """
    if clock == "steps" or max_time is None:
        return step
    by_time = int(steps * elapsed / (elapsed0 + max_time))
    return max(step, min(by_time, steps - 1))


__all__ = [
    "CLOCKS",
    "Schedule",
    "build_lr_schedule",
    "build_schedule",
    "check_clock",
    "constant",
    "cosine",
    "cosine_lr",
    "exponential",
    "horizon_curriculum",
    "linear",
    "multistep_lr",
    "schedule_index",
    "step_schedule",
]
