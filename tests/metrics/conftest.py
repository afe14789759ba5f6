"""Shared fixtures of the metric tests: z-scored Lorenz-63 trajectories from pyrodyn's simulator."""

from __future__ import annotations

import numpy as np
import pytest

from pyrodyn.data.systems import Lorenz63


@pytest.fixture(scope="session")
def lorenz_traj() -> np.ndarray:
    x = Lorenz63().simulate(8000, transient=300, seed=3)
    return (x - x.mean(0)) / x.std(0)


@pytest.fixture(scope="session")
def lorenz_recording() -> np.ndarray:
    """A stand-in for the MTF Lorenz-63 recording: 100k z-scored steps at dt = 0.05 (about 2 s).

    Same system, parameters, sampling step, length and standardisation as the reference data of
    spec mtf.md 2.5, but simulated here, so the anchor tests run in every checkout.
    """
    x = Lorenz63().simulate(100_000, transient=1000, seed=0)
    return (x - x.mean(0)) / x.std(0)
