"""``pyrodyn generate``: free-running generation of a fitted run, in data units."""

from __future__ import annotations

import os

import numpy as np

from pyrodyn.app.generation import generate, init_batch
from pyrodyn.app.outputs import to_data_units
from pyrodyn.app.rundir import load_run


def generate_run(
    run_dir: str | os.PathLike,
    steps: int,
    *,
    trials: int = 1,
    burn_in: int = 0,
    init: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
) -> tuple[str, dict[str, np.ndarray]]:
    """Free-running generation in data units.

    Each trial starts from the encoder state of a window of the training data (``data.path``, or
    ``init``). Writes ``out`` (default ``RUN_DIR/generated.npz``): one array per modality
    ``(trials, steps, *features)`` and ``latent`` ``(trials, steps, D)``.

    Raises:
        ValueError: ``steps < 1``, ``trials < 1`` or ``burn_in < 0``.
        TypeError: the run's model does not declare the ``Generates`` capability.
    """
    if int(steps) < 1 or int(trials) < 1 or int(burn_in) < 0:
        raise ValueError(
            f"need --steps >= 1, --trials >= 1, --burn-in >= 0; got {steps}, {trials}, {burn_in}"
        )
    run = load_run(run_dir)
    ev = run.config["evaluate"]
    gen = generate(
        run.model,
        init_batch(run.load_data(init), int(trials), run.config["data"]["window"]),
        steps,
        trials=trials,
        burn_in=burn_in,
        prediction=ev["prediction"],
        noise=ev["noise"],
    )
    modalities = run.model.modalities
    arrays = to_data_units({m: gen[m] for m in modalities}, run.standardizer)
    arrays.update({k: v.detach().cpu().numpy() for k, v in gen.items() if k not in arrays})
    out = os.fspath(out or os.path.join(run.path, "generated.npz"))
    np.savez(out, **arrays)
    return out, arrays


__all__ = ["generate_run"]
