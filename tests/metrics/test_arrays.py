"""Input coercion of the metric functions: dtypes, shapes and the names in error messages."""

import numpy as np
import pytest
import torch

from pyrodyn.metrics._arrays import as_numpy, as_trajectory, check_choice, check_same_features


def test_as_numpy_converts_tensors_and_sequences():
    t = torch.arange(3.0, requires_grad=True)  # needs detaching before numpy
    out = as_numpy(t * 2, "t")
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_array_equal(out, [0.0, 2.0, 4.0])
    ints = as_numpy([1, 2], "ints")
    assert ints.dtype == np.float64
    assert as_numpy([1.7, 2.2], "a", dtype=np.int64).tolist() == [1, 2]
    with pytest.raises(TypeError, match=r"^data must be array-like of numbers, got str$"):
        as_numpy("abc", "data")
    with pytest.raises(TypeError, match=r"^ragged must be array-like of numbers, got list$"):
        as_numpy([[1.0], [1.0, 2.0]], "ragged")


def test_as_trajectory_shapes():
    out = as_trajectory(torch.tensor([1.0, 2.0, 3.0]), "series")
    assert out.shape == (3, 1) and out.dtype == np.float64
    assert as_trajectory(np.ones((4, 2), dtype=np.float32), "x").dtype == np.float64
    with pytest.raises(
        ValueError, match=r"^cube must have shape \(time, features\), got shape \(2, 2, 2\)$"
    ):
        as_trajectory(np.zeros((2, 2, 2)), "cube")
    with pytest.raises(ValueError, match=r"^s must have shape \(time, features\), got shape \(\)$"):
        as_trajectory(3.0, "s")
    for shape in [(0, 3), (3, 0), (0,)]:
        want = str(shape if len(shape) == 2 else (0, 1)).replace("(", r"\(").replace(")", r"\)")
        with pytest.raises(ValueError, match=rf"^e must be non-empty, got shape {want}$"):
            as_trajectory(np.zeros(shape), "e")
    with pytest.raises(TypeError, match=r"^traj must be array-like of numbers, got str$"):
        as_trajectory("abc", "traj")
    # a single point is a valid trajectory
    assert as_trajectory([[1.0, 2.0]], "p").shape == (1, 2)


def test_feature_and_choice_checks():
    check_same_features(np.zeros((3, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"same number of features, got 2 and 3$"):
        check_same_features(np.zeros((3, 2)), np.zeros((3, 3)))
    check_choice("b", "kind", ("a", "b"))
    with pytest.raises(ValueError, match=r"^kind must be one of \['a', 'b'\], got 'c'$"):
        check_choice("c", "kind", ("a", "b"))
