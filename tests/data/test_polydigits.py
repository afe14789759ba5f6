import numpy as np
import pytest

from pyrodyn.data.polydigits import make_polydigits, polydigits_arrays


def test_shapes_labels_and_ranges():
    a = polydigits_arrays(3, split="test", repeats=1, seed=0)
    assert set(a) == {"m0", "m1", "m2", "label"}
    n = len(a["label"])
    assert n == round(1797 * 0.2)
    for m in ("m0", "m1", "m2"):
        assert a[m].shape == (n, 3, 12, 12) and a[m].dtype == np.float32
        assert a[m].min() >= 0.0 and a[m].max() <= 1.0
    # the digit (inverted, bright) shows on the dark background
    assert (a["m0"] > 0.5).any() and (a["m0"] <= 0.45).mean() > 0.5


def test_seeded_and_modalities_differ():
    a = polydigits_arrays(2, split="test", repeats=1, seed=1)
    b = polydigits_arrays(2, split="test", repeats=1, seed=1)
    np.testing.assert_array_equal(a["m1"], b["m1"])
    c = polydigits_arrays(2, split="test", repeats=1, seed=2)
    assert not np.array_equal(a["m1"], c["m1"])
    # different example, background and position per modality
    assert not np.allclose(a["m0"], a["m1"])


def test_train_and_test_instances_are_disjoint():
    tr = polydigits_arrays(1, split="train", repeats=1, canvas=8, digit_size=8)
    te = polydigits_arrays(1, split="test", repeats=1, canvas=8, digit_size=8)
    assert len(tr["label"]) + len(te["label"]) == 1797


def test_dataset_is_static_with_labels():
    ds = make_polydigits(2, split="test", repeats=1, canvas=10)
    assert ds.static and ds.modalities == ["m0", "m1"]
    assert ds.feature_shape("m0") == (3, 10, 10)
    assert "label" in ds.extras


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_modalities": 0}, "num_modalities"),
        ({"split": "valid"}, "split"),
        ({"digit_size": 20}, "digit_size"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"repeats": 0}, "repeats"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        polydigits_arrays(**kwargs)
