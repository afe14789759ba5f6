"""Free-running generation for ``generate`` and ``evaluate``: initial windows, options, limits.

Dispatch is by declared capability (:mod:`pyrodyn.models.capabilities`): a model generates when
it declares :class:`~pyrodyn.models.capabilities.Generates`, takes the extra options it lists in
``generation_options`` and caps a free run at its ``generation_limit``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.models.capabilities import Generates, require


def init_batch(ds: MultimodalDataset, trials: int, window: int | None) -> MultimodalBatch:
    """Sequences whose first steps seed generation.

    Trial ``k % n`` for ``k < trials``; in a single recording, windows starting at evenly spaced
    points.
    """
    if ds.static:
        raise ValueError("generation needs sequences; the data are static samples")
    w = int(min(ds.num_steps, window or 256))
    if ds.num_trials == 1:
        last = int(ds.lengths[0]) - w
        starts = torch.linspace(0, max(last, 0), trials).long()
        return ds.batch(torch.zeros(trials, dtype=torch.long), start=starts, window=w)
    idx = torch.arange(trials) % ds.num_trials
    return ds.batch(idx, start=torch.zeros_like(idx), window=w)


def generate(
    model: Any,
    init: MultimodalBatch,
    steps: int,
    *,
    trials: int,
    burn_in: int,
    prediction: str = "default",
    noise: bool | None = None,
) -> dict[str, torch.Tensor]:
    """``model.generate`` without gradients, after checking the capability and its options.

    Raises:
        TypeError: the model does not declare :class:`Generates`.
        ValueError: ``noise`` is set but the model's ``generate`` has no ``noise`` option.
    """
    require(model, Generates, "generate (free-running generation)")
    options: dict[str, Any] = {}
    if noise is not None:
        if "noise" not in model.generation_options:
            raise ValueError(
                f"evaluate.noise is {noise!r}, but {type(model).__name__}.generate has no "
                f"'noise' option (its options: {sorted(model.generation_options) or 'none'}); "
                "set evaluate.noise to null"
            )
        options["noise"] = bool(noise)
    with torch.no_grad():
        return model.generate(
            int(steps),
            init=init,
            num_trials=int(trials),
            burn_in=int(burn_in),
            prediction=prediction,
            **options,
        )


def generation_plan(
    model: Any,
    ds: MultimodalDataset,
    window: int | None,
    steps: int,
    trials: int,
    burn_in: int,
) -> tuple[MultimodalBatch, int, int, dict[str, Any] | None]:
    """Init batch, steps and trials that respect the model's ``generation_limit``.

    A model that can only generate a bounded number of steps after its context (LaDID: up to
    its time encoding's period) generates at most that many steps per trial, from more trials
    (distinct windows of the evaluation data), about the requested total.

    Returns:
        ``(init, steps, trials, limited)``; ``limited`` is None or what was changed and why.

    Raises:
        TypeError: the model does not declare :class:`Generates`.
        ValueError: the burn-in alone reaches the limit.
    """
    require(model, Generates, "generate (free-running generation)")
    init = init_batch(ds, trials, window)
    limit = model.generation_limit(init)
    if limit is None or burn_in + steps <= limit:
        return init, steps, trials, None
    cap = int(limit) - burn_in
    if cap < 1:
        raise ValueError(
            f"{type(model).__name__} can generate at most {limit} steps after its context, "
            f"so burn_in={burn_in} leaves none to evaluate; lower evaluate.burn_in"
        )
    more = max(trials, math.ceil(steps * trials / cap))
    if ds.num_trials > 1:
        more = min(more, ds.num_trials)
    limited = {
        "requested_steps": steps,
        "requested_trials": trials,
        "generation_limit": int(limit),
        "reason": f"{type(model).__name__} generates at most {limit} steps after its context",
    }
    return init_batch(ds, more, window), cap, more, limited


__all__ = ["generate", "generation_plan", "init_batch"]
