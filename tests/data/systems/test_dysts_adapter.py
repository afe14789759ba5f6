import importlib.util

import numpy as np
import pytest

from pyrodyn.data.systems import DystsSystem, Lorenz63

HAS_DYSTS = importlib.util.find_spec("dysts") is not None


@pytest.mark.skipif(HAS_DYSTS, reason="dysts is installed")
def test_clear_import_error_without_dysts():
    with pytest.raises(ImportError, match="pip install dysts"):
        DystsSystem("Lorenz")


@pytest.mark.skipif(not HAS_DYSTS, reason="dysts is not installed")
def test_dysts_lorenz_matches_builtin():
    system = DystsSystem("Lorenz")
    assert system.dim == 3
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(system.vector_field(0.0, x), Lorenz63().vector_field(0.0, x))
    traj = system.simulate(500, transient=100)
    assert traj.shape == (500, 3) and np.all(np.isfinite(traj))
    with pytest.raises(ValueError, match="unknown dysts flow"):
        DystsSystem("NotAFlow")
