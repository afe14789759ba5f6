import numpy as np
import pytest

from pyrodyn.data.lorenz_multimodal import make_lorenz63_multimodal, make_system_multimodal
from pyrodyn.data.systems import Lorenz96, Rossler


def test_lorenz63_multimodal_layout():
    data = make_lorenz63_multimodal(3000, seed=1)
    assert set(data) == {"gaussian", "ordinal", "poisson", "true_state"}
    state = data["true_state"]
    assert state.shape == (3000, 3) and data["gaussian"].shape == (3000, 3)
    np.testing.assert_allclose(state.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(state.std(0), 1.0, atol=1e-5)
    assert (data["gaussian"] - state).std() == pytest.approx(0.1, rel=0.05)
    assert data["ordinal"].shape == (3000, 8)
    assert data["ordinal"].min() >= 1 and data["ordinal"].max() <= 7
    assert data["poisson"].shape == (3000, 3) and data["poisson"].min() >= 0
    np.testing.assert_allclose(data["poisson"].mean(0), 1.0, rtol=0.1)
    again = make_lorenz63_multimodal(3000, seed=1)
    for key in data:
        np.testing.assert_array_equal(data[key], again[key])
    other = make_lorenz63_multimodal(3000, seed=2)
    assert not np.allclose(other["true_state"], state)


def test_generic_systems_and_options():
    data = make_system_multimodal(Rossler(), 1000, num_poisson=0, octants=True, noise=0.0)
    assert "poisson" not in data
    np.testing.assert_array_equal(data["gaussian"], data["true_state"])
    assert data["categorical"].shape == (1000,)
    assert data["categorical"].min() >= 0 and data["categorical"].max() <= 7
    l96 = make_system_multimodal(Lorenz96(5), 500, num_ordinal=4, num_categories=3)
    assert l96["gaussian"].shape == (500, 5) and l96["ordinal"].max() <= 3
    with pytest.raises(ValueError, match="num_ordinal must be an int >= 0"):
        make_system_multimodal(Rossler(), 10, num_ordinal=-1)
