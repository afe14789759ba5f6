"""Smoke tests of the fusions inside the other composed models (MTF, MM-GPVAE)."""

import pytest
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.dynamics import ClippedDendPLRNN
from pyrodyn.likelihoods import Gaussian, Poisson
from pyrodyn.models.mmgpvae import MMGPVAE
from pyrodyn.models.mtf import MTF
from pyrodyn.nn.encoders.temporal_conv import TemporalConvEncoder
from pyrodyn.nn.fusion import MMVM, Mean, ProductOfExperts
from pyrodyn.testing.model import check_model_guide


def _batch(b=3, t=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    data = {
        "gauss": torch.randn(b, t, 3, generator=g),
        "counts": torch.poisson(torch.full((b, t, 2), 2.0), generator=g),
    }
    return MultimodalBatch.from_tensors(data)


@pytest.mark.parametrize("fusion", [ProductOfExperts, MMVM], ids=["poe", "mmvm"])
def test_mtf_with_fusion_and_a_missing_modality(fusion):
    k = 3
    model = MTF(
        {"gauss": Gaussian(3), "counts": Poisson(2)},
        ClippedDendPLRNN(k, num_bases=2),
        k,
        tau=4,
        encoders={
            "gauss": TemporalConvEncoder(3, k, kernel_sizes=(3,)),
            "counts": TemporalConvEncoder(2, k, kernel_sizes=(3,)),
        },
        fusion=fusion(),
    )
    batch = _batch()
    # counts missing in the whole first window and in a stretch of the second
    batch = batch.drop("counts", rows=torch.tensor([True, False, False]))
    batch.mask["counts"][1, 4:9] = False
    total, terms = model.loss(batch)
    assert torch.isfinite(total) and all(torch.isfinite(v) for v in terms.values())
    total.backward()
    assert any(p.grad is not None for p in model.encoders["counts"].parameters())
    # the teacher of the first window comes from the gaussian encoder alone
    model.eval()
    q = model.posterior(batch)
    alone = model.encoders["gauss"](batch.obs["gauss"], batch.mask["gauss"])
    torch.testing.assert_close(q.loc[0], alone.loc[0])


@pytest.mark.parametrize("fusion", [ProductOfExperts, Mean], ids=["poe", "mean"])
def test_mmgpvae_with_fusion(fusion):
    model = MMGPVAE(
        {"counts": Poisson(2), "gauss": Gaussian(3)},
        encoder_hidden=(8,),
        decoder_hidden={"gauss": (8,)},
        lengthscale=4.0,
        fusion=fusion(),
    )
    batch = _batch(b=4, t=12).drop("gauss", rows=torch.tensor([False, True, False, False]))
    check_model_guide(model, batch)
    total, _ = model.loss(batch)
    assert torch.isfinite(total)
    total.backward()


def test_mmgpvae_refuses_per_modality_fusions():
    with pytest.raises(ValueError, match="per-modality latents"):
        MMGPVAE({"counts": Poisson(2), "gauss": Gaussian(3)}, fusion=MMVM())
