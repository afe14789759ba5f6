"""MultimodalVAE passes the model conformance kit (static MMVM and PoE, sequences with MoE)."""

import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.likelihoods import Gaussian, Poisson
from pyrodyn.models.mmvm import MultimodalVAE
from pyrodyn.nn.encoders.static_mlp import StaticMLPEncoder
from pyrodyn.nn.fusion import MMVM, Independent, MixtureOfExperts, ProductOfExperts
from pyrodyn.priors import MMVMMixturePrior, StandardNormalPrior
from pyrodyn.testing.model import ModelConformance

D = 2


def _model(fusion, static=True, prior=None):
    liks = {"g": Gaussian(3), "p": Poisson(4)}
    encs = {"g": StaticMLPEncoder(3, D, (8,)), "p": StaticMLPEncoder(4, D, (8,))}
    return MultimodalVAE(liks, encs, fusion, decoder_hidden=(8,), static=static, prior=prior)


def _batch(steps=None):
    g = torch.Generator().manual_seed(0)
    lead = (4,) if steps is None else (4, steps)
    data = {
        # far from what an untrained decoder predicts, so training has room to lower the loss
        "g": 2.0 + torch.randn(*lead, 3, generator=g),
        "p": torch.poisson(torch.full((*lead, 4), 6.0), generator=g),
    }
    return MultimodalBatch.from_tensors(data, static=steps is None)


class _Small(ModelConformance):
    # small models learn the fixed batch quickly: half the kit's default steps keep it cheap
    train_steps = 100
    lr = 2e-2


class TestStaticMMVMConformance(_Small):
    def make_model(self):
        return _model(MMVM())

    def make_batch(self):
        return _batch()

    def swap_prior(self, model):
        return _model(Independent(), prior=StandardNormalPrior(D))


class TestStaticPoEConformance(_Small):
    def make_model(self):
        return _model(ProductOfExperts())

    def make_batch(self):
        return _batch()

    def swap_prior(self, model):
        return _model(ProductOfExperts(), prior=MMVMMixturePrior(D, alpha=0.5))


class TestSequenceMoEConformance(_Small):
    def make_model(self):
        return _model(MixtureOfExperts(), static=False)

    def make_batch(self):
        return _batch(steps=6)

    def drop_modality(self, batch):
        # one modality missing in the first sequence and at a few steps of the second
        batch = batch.drop("p", rows=torch.arange(batch.num_sequences) == 0)
        batch.mask["g"][1, 2:4] = False
        return batch

    def swap_prior(self, model):
        return _model(MixtureOfExperts(), static=False, prior=MMVMMixturePrior(D))
