import pytest
import torch

from pyrodyn.data.batch import MultimodalBatch


def _batch():
    x = torch.randn(3, 5, 2)
    x[0, 1, 0] = float("nan")
    y = torch.randn(3, 5, 4)
    y[2] = float("nan")
    return MultimodalBatch.from_tensors({"x": x, "y": y}, lengths=torch.tensor([5, 3, 5]))


def test_from_tensors_masks_and_fills():
    b = _batch()
    assert b.num_sequences == 3 and b.num_steps == 5 and b.modalities == ["x", "y"]
    assert not b.mask["x"][0, 1, 0] and b.obs["x"][0, 1, 0] == 0
    assert b.present("y").tolist() == [True, True, False]
    assert b.step_mask("x").shape == (3, 5)
    assert b.valid_steps()[1].tolist() == [True, True, True, False, False]
    assert b.times.shape == (3, 5)


def test_select_drop_index_to():
    b = _batch()
    assert b.select(["y"]).modalities == ["y"]
    d = b.drop("x", rows=torch.tensor([True, False, False]))
    assert not d.mask["x"][0].any() and d.mask["x"][1].all()
    sub = b[torch.tensor([0, 2])]
    assert sub.num_sequences == 2 and sub.lengths.tolist() == [5, 5]
    moved = b.to("cpu", dtype=torch.float64)
    assert moved.obs["x"].dtype == torch.float64 and moved.mask["x"].dtype == torch.bool


def test_errors():
    with pytest.raises(ValueError, match="at least one modality"):
        MultimodalBatch(obs={}, mask={})
    with pytest.raises(ValueError, match="same batch size"):
        MultimodalBatch.from_tensors({"a": torch.zeros(2, 3, 1), "b": torch.zeros(3, 3, 1)})
    with pytest.raises(ValueError, match="unknown modalities"):
        _batch().select(["z"])
    with pytest.raises(ValueError, match="static"):
        MultimodalBatch.from_tensors({"a": torch.zeros(2, 3)}, static=True).step_mask("a")
