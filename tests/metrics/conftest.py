"""Shared fixtures of the metric tests: a short Lorenz-63 trajectory (z-scored)."""

from __future__ import annotations

import numpy as np
import pytest

from pyrodyn.data.systems import Lorenz63


@pytest.fixture(scope="session")
def lorenz_traj() -> np.ndarray:
    x = Lorenz63().simulate(8000, transient=300, seed=3)
    return (x - x.mean(0)) / x.std(0)
