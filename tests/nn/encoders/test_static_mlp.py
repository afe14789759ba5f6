import pytest
import torch

from pyrodyn.nn.encoders.static_mlp import StaticMLPEncoder
from pyrodyn.testing.encoder import EncoderConformance


class TestStaticMLPConformance(EncoderConformance):
    def make_encoder(self):
        return StaticMLPEncoder((2, 3), 4, (8,), use_mask=True)

    def make_input(self, batch_size):
        x = torch.randn(batch_size, 2, 3)
        mask = torch.ones_like(x, dtype=torch.bool)
        mask[0, 1] = False
        return x, mask


def test_per_step_sequences():
    enc = StaticMLPEncoder(5, 3)
    q = enc(torch.randn(2, 7, 5))
    assert q.loc.shape == (2, 7, 3)


def test_missing_entries_are_ignored():
    enc = StaticMLPEncoder(4, 2)
    x = torch.randn(3, 4)
    mask = torch.ones_like(x, dtype=torch.bool)
    mask[:, 0] = False
    x2 = x.clone()
    x2[:, 0] = 50.0
    torch.testing.assert_close(enc(x, mask).loc, enc(x2, mask).loc)


def test_bad_inputs():
    with pytest.raises(ValueError, match="input_shape"):
        StaticMLPEncoder(0, 2)
    with pytest.raises(ValueError, match="expects"):
        StaticMLPEncoder(4, 2)(torch.randn(3, 5))
