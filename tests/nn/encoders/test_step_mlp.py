import pytest
import torch

from pyrodyn.nn.encoders.step_mlp import StepMLPEncoder
from pyrodyn.testing import EncoderConformance


class TestStepMLPConformance(EncoderConformance):
    def make_encoder(self):
        return StepMLPEncoder(6, 3, hidden=(8,), kernel_size=3)

    def make_input(self, batch_size):
        x = torch.randn(batch_size, 11, 6)
        mask = torch.rand(batch_size, 11, 6) > 0.2
        return x, mask


def test_any_length_and_per_step_locality():
    enc = StepMLPEncoder(4, 2, hidden=(8,))
    x = torch.randn(2, 9, 4)
    q = enc(x)
    assert q.loc.shape == (2, 9, 2) and (q.scale > 0).all()
    y = x.clone()
    y[:, 5] += 1.0  # kernel_size 1: only step 5 changes
    changed = (enc(y).loc - q.loc).abs().sum(-1) > 0
    assert changed[:, 5].all() and not changed[:, :5].any() and not changed[:, 6:].any()
    assert enc(torch.randn(1, 40, 2, 2)).loc.shape == (1, 40, 2)  # feature_shape (2, 2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="odd positive"):
        StepMLPEncoder(4, 2, kernel_size=2)
    with pytest.raises(ValueError, match="expects 4 features"):
        StepMLPEncoder(4, 2)(torch.zeros(1, 3, 5))
