import pytest
import torch

from pyrodyn.likelihoods import Gaussian
from pyrodyn.nn.encoders.frame import FrameCNN, FrameMLP, frame_encoder_for
from pyrodyn.nn.frame_decoder import FrameCNNDecoder


def test_cnn_shapes(device):
    enc = FrameCNN((32, 32), output_dim=24, channels=4).to(device)
    x = torch.rand(2, 5, 32, 32, device=device)
    assert enc(x).shape == (2, 5, 24)
    enc3 = FrameCNN((3, 16, 48), output_dim=8, channels=2, norm="group").to(device)
    assert enc3(torch.rand(7, 3, 16, 48, device=device)).shape == (7, 8)


@pytest.mark.parametrize("shape", [(30, 32), (32, 8), (3, 20, 20), (0, 16)])
def test_cnn_rejects_sizes_and_says_which_work(shape):
    with pytest.raises(ValueError, match=r"multiples of 16.*16x16, 32x32, 48x48, 64x64"):
        FrameCNN(shape)


def test_cnn_rejects_vectors_and_wrong_inputs():
    with pytest.raises(ValueError, match="use FrameMLP for vectors"):
        FrameCNN((16,))
    enc = FrameCNN((32, 32), output_dim=8, channels=2)
    with pytest.raises(ValueError, match=r"expects observations \(\.\.\., \(32, 32\)\)"):
        enc(torch.rand(2, 28, 28))
    with pytest.raises(ValueError, match="norm must be"):
        FrameCNN((32, 32), norm="layer")


def test_mlp_and_factory(device):
    mlp = FrameMLP(16, output_dim=12).to(device)
    assert mlp(torch.randn(3, 4, 16, device=device)).shape == (3, 4, 12)
    assert isinstance(frame_encoder_for(16, 8), FrameMLP)
    assert isinstance(frame_encoder_for((16, 16), 8, channels=2), FrameCNN)
    with pytest.raises(ValueError, match="feature_shape"):
        FrameMLP((0,), 4)


def test_frame_decoder_mirrors_encoder(device):
    lik = Gaussian((32, 32))
    dec = FrameCNNDecoder(6, lik, channels=2).to(device)
    out = dec(torch.randn(2, 3, 6, device=device))
    assert out["loc"].shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="multiples of 16"):
        FrameCNNDecoder(6, Gaussian((20, 20)))
