import numpy as np
import pytest

from pyrodyn.data.rats import make_rats, rats_arrays


def test_shapes_and_counts():
    a = rats_arrays((10, 6), trials_per_odour=5, bins=8)
    assert a["rat0"].shape == (20, 8, 10) and a["rat1"].shape == (20, 8, 6)
    assert np.all(a["rat0"] >= 0) and np.all(a["rat0"] == np.round(a["rat0"]))
    assert list(np.bincount(a["label"])) == [5, 5, 5, 5]


def test_odour_is_decodable_from_every_rat():
    from sklearn.linear_model import LogisticRegression

    tr = rats_arrays((30, 30), trials_per_odour=30, bins=10, split="train")
    te = rats_arrays((30, 30), trials_per_odour=30, bins=10, split="test")
    for r in ("rat0", "rat1"):
        clf = LogisticRegression(max_iter=2000).fit(tr[r].mean(1), tr["label"])
        assert clf.score(te[r].mean(1), te["label"]) > 0.6


def test_seeded_and_splits_differ():
    a = rats_arrays((5,), trials_per_odour=3, seed=1)
    b = rats_arrays((5,), trials_per_odour=3, seed=1)
    np.testing.assert_array_equal(a["rat0"], b["rat0"])
    c = rats_arrays((5,), trials_per_odour=3, seed=1, split="test")
    assert not np.array_equal(a["rat0"], c["rat0"])
    assert make_rats((5,), trials_per_odour=3).static


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"neurons": ()}, "neurons"),
        ({"num_odours": 1}, "num_odours"),
        ({"bins": 1}, "bins"),
        ({"split": "x"}, "split"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rats_arrays(**kwargs)
