import numpy as np
import torch

from pyrodyn.data import MultimodalDataset
from pyrodyn.nn.encoders.temporal_conv import TemporalConvEncoder, concat_observations


def _batch(dtype):
    rng = np.random.default_rng(0)
    data = MultimodalDataset(
        {"g": rng.normal(size=(2, 5, 2)), "c": rng.poisson(2.0, size=(2, 5, 1)).astype(float)}
    )
    batch = data.batch()
    batch.obs["g"] = batch.obs["g"].to(dtype)
    return batch


def test_concatenation_keeps_the_precision_of_the_continuous_modalities():
    x64, mask = concat_observations(_batch(torch.float64))
    assert x64.dtype == torch.float64 and mask.dtype == torch.bool and x64.shape == (2, 5, 3)
    x32, _ = concat_observations(_batch(torch.float32))
    assert x32.dtype == torch.float32
    np.testing.assert_allclose(x64.numpy(), x32.double().numpy(), rtol=1e-6)


def test_a_float64_encoder_reads_a_float64_batch():
    enc = TemporalConvEncoder(3, 2).double()
    x, mask = concat_observations(_batch(torch.float64))
    assert enc(x, mask).loc.dtype == torch.float64
