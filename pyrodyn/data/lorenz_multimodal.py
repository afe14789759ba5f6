"""Synthetic multimodal recordings of a chaotic system (Gaussian + ordinal + Poisson channels).

Mirrors the multimodal Lorenz-63 data shipped with the MTF code (Brenner et al., ICML 2024; specs/
mtf.md 3.2): the state is sampled at dt = 0.05 after a transient, z-scored, and observed through
noisy Gaussian channels, cumulative-logit ordinal channels and weakly informative Poisson counts.
It is our own generator (the authors' script is not released), not a copy of their files.
"""

from __future__ import annotations

import numpy as np

from pyrodyn.data import observe
from pyrodyn.data.systems.base import DynamicalSystem
from pyrodyn.data.systems.lorenz63 import Lorenz63


def make_system_multimodal(
    system: DynamicalSystem,
    num_steps: int = 100_000,
    *,
    dt: float | None = None,
    noise: float = 0.1,
    num_ordinal: int = 8,
    num_categories: int = 7,
    num_poisson: int = 3,
    poisson_rate: float = 1.0,
    octants: bool = False,
    transient: int = 1000,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Simulate ``system`` and observe it through several modalities.

    Args:
        system: any :class:`~pyrodyn.data.systems.DynamicalSystem` (Lorenz-63, Rössler,
            Lorenz-96, a dysts flow).
        num_steps: T, samples returned.
        dt: sampling interval (default: the system's ``default_dt``).
        noise: sd of the Gaussian observation noise on the z-scored state.
        num_ordinal: ordinal channels (0 to omit the modality).
        num_categories: ordinal levels C (codes ``1..C``).
        num_poisson: count channels (0 to omit the modality).
        poisson_rate: mean count per step.
        octants: also return ``"categorical"``, the orthant labels of the state (0..2**dim - 1),
            the symbolic modality of the MTF experiments.
        transient: samples integrated and dropped before the recording.
        seed: seeds the initial-condition offset, emission parameters and noise.

    Returns:
        ``{"gaussian": (T, dim) float32, "ordinal": (T, num_ordinal) int64,
        "poisson": (T, num_poisson) int64, "true_state": (T, dim) float32}`` (plus
        ``"categorical"`` ``(T,)`` int64); ``true_state`` is the noise-free z-scored state and
        ``gaussian`` adds the noise to it. Omitted modalities are absent from the dict.
    """
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    for name, value in (("num_ordinal", num_ordinal), ("num_poisson", num_poisson)):
        if not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    rng = np.random.default_rng(seed)
    state = system.simulate(num_steps, dt=dt, transient=transient, seed=int(rng.integers(2**31)))
    sd = state.std(axis=0)
    state = (state - state.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    out = {"gaussian": observe.gaussian(state, noise, rng).astype(np.float32)}
    if num_ordinal:
        out["ordinal"] = observe.ordinal(state, num_ordinal, num_categories, rng)
    if num_poisson:
        out["poisson"] = observe.poisson(state, num_poisson, poisson_rate, rng)
    if octants:
        out["categorical"] = observe.categorical_octants(state)
    out["true_state"] = state.astype(np.float32)
    return out


def make_lorenz63_multimodal(
    num_steps: int = 100_000,
    *,
    dt: float = 0.05,
    noise: float = 0.1,
    num_ordinal: int = 8,
    num_categories: int = 7,
    num_poisson: int = 3,
    seed: int = 0,
    **kwargs: object,
) -> dict[str, np.ndarray]:
    """Multimodal Lorenz-63 (sigma 10, rho 28, beta 8/3, dt 0.05) like the MTF example data.

    See :func:`make_system_multimodal` for the arguments (extra keywords are passed on) and the
    returned keys ``gaussian``, ``ordinal``, ``poisson`` and ``true_state``. 100k steps take a few
    seconds (LSODA at tolerance 1e-9).
    """
    return make_system_multimodal(
        Lorenz63(),
        num_steps,
        dt=dt,
        noise=noise,
        num_ordinal=num_ordinal,
        num_categories=num_categories,
        num_poisson=num_poisson,
        seed=seed,
        **kwargs,
    )
