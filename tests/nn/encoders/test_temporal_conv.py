import pytest
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.nn.encoders import TemporalConvEncoder, concat_observations


def test_shapes_and_positive_scale():
    enc = TemporalConvEncoder(5, 3)
    q = enc(torch.randn(4, 30, 5))
    assert q.batch_shape == (4, 30, 3) and bool((q.scale > 0).all())


def test_sequences_are_encoded_separately_with_a_21_step_receptive_field():
    torch.manual_seed(0)
    enc = TemporalConvEncoder(2, 2, use_mask=False)
    x = torch.randn(2, 60, 2)
    base = enc(x).loc
    x2 = x.clone()
    x2[1] += 10.0  # another sequence: no leakage across the batch
    assert torch.allclose(enc(x2).loc[0], base[0])
    x3 = x.clone()
    x3[0, 40] += 5.0  # step 40 affects only steps 30..50
    diff = (enc(x3).loc[0] - base[0]).abs().sum(-1)
    assert bool((diff[:30] == 0).all()) and bool((diff[51:] == 0).all()) and diff[40] > 0


def test_mask_channels_distinguish_missing_from_zero():
    enc = TemporalConvEncoder(1, 2)
    x = torch.zeros(1, 20, 1)
    full = enc(x, torch.ones_like(x, dtype=torch.bool)).loc
    missing = enc(x, torch.zeros_like(x, dtype=torch.bool)).loc
    assert not torch.allclose(full, missing)


def test_concat_observations():
    b = MultimodalBatch.from_tensors({"a": torch.randn(2, 5, 3), "b": torch.randn(2, 5, 2, 2)})
    x, m = concat_observations(b)
    assert x.shape == (2, 5, 7) and m.dtype == torch.bool
    with pytest.raises(ValueError, match="unknown modality"):
        concat_observations(b, ["c"])


def test_bad_inputs():
    with pytest.raises(ValueError, match="odd positive"):
        TemporalConvEncoder(2, 2, kernel_sizes=(4,))
    with pytest.raises(ValueError, match=r"expects \(batch, time, 2\)"):
        TemporalConvEncoder(2, 2)(torch.zeros(1, 5, 3))
