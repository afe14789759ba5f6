import pytest
import torch

from pyrodyn.nn.encoders.sequence_pool import SequencePoolEncoder
from pyrodyn.testing.encoder import EncoderConformance


class TestSequencePoolConformance(EncoderConformance):
    def make_encoder(self):
        return SequencePoolEncoder(3, 4, hidden=(8, 8))

    def make_input(self, batch_size):
        x = torch.randn(batch_size, 20, 3)
        mask = torch.ones_like(x, dtype=torch.bool)
        mask[0, 15:] = False
        return x, mask


def test_one_posterior_per_recording():
    q = SequencePoolEncoder(3, 5)(torch.randn(4, 100, 3))
    assert q.loc.shape == (4, 5)


def test_missing_steps_do_not_count():
    enc = SequencePoolEncoder(2, 3, hidden=(4,))
    x = torch.randn(2, 30, 2)
    mask = torch.ones_like(x, dtype=torch.bool)
    mask[:, 20:] = False
    x2 = x.clone()
    x2[:, 22:] = 100.0  # masked entries are zeroed before the convolutions
    torch.testing.assert_close(enc(x, mask).loc, enc(x2, mask).loc)


def test_bad_inputs():
    with pytest.raises(ValueError, match="kernel_size"):
        SequencePoolEncoder(3, 2, kernel_size=4)
    with pytest.raises(ValueError, match="expects"):
        SequencePoolEncoder(3, 2)(torch.randn(2, 10, 4))
