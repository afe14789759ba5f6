"""LaDID passes the model conformance kit: plain, and with a split code trained on crops."""

import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.dynamics.query import QueryDynamics
from pyrodyn.likelihoods import Gaussian
from pyrodyn.models.ladid import LaDID, LaDIDObjective
from pyrodyn.nn.encoders.ct_transformer import ContinuousTimeTransformer
from pyrodyn.priors.mixture import MMVMMixturePrior
from pyrodyn.testing.model import ModelConformance

K = 3
SHAPES = {"x": 3, "y": 2}


def _batch() -> MultimodalBatch:
    g = torch.Generator().manual_seed(0)
    t = torch.arange(12) * 0.1
    phase = torch.rand(4, 1, generator=g) * 6.0
    base = torch.sin(2.0 * t + phase)[..., None]
    x = base * torch.tensor([1.0, -0.5, 0.3]) + 0.05 * torch.randn(4, 12, 3, generator=g)
    y = torch.cat([base, torch.cos(2.0 * t + phase)[..., None]], -1)
    return MultimodalBatch.from_tensors({"x": x, "y": y}, times=t)


def _ladid(k_c: int, state_encoders: dict | None = None, prior=None) -> LaDID:
    liks = {m: Gaussian(s, scale=0.3) for m, s in SHAPES.items()}
    encs = {
        m: ContinuousTimeTransformer(s, k_c, model_dim=8, num_layers=1, window=0.3)
        for m, s in SHAPES.items()
    }
    dyn = QueryDynamics(K, K, max_period=4.0, num_frequencies=4, hidden=(16,), dropout=0.0)
    return LaDID(liks, encs, dyn, prior=prior, context=4, state_encoders=state_encoders)


class TestLaDIDConformance(ModelConformance):
    """The default recipe: windows of horizon 4, ``reg.embedding`` on."""

    scheduled = {"horizon": 4}
    # the loss falls by ~90 % within 60 steps on this batch: 200 would only cost time
    train_steps = 60

    def make_model(self) -> LaDID:
        return _ladid(K)

    def make_batch(self) -> MultimodalBatch:
        return _batch()

    def swap_prior(self, model: LaDID) -> LaDID:
        # a data-dependent prior: the model fills its context with the unimodal posteriors
        return _ladid(K, prior=MMVMMixturePrior(K, alpha=0.5))


class TestLaDIDSplitCodeConformance(ModelConformance):
    """A split code ``[constants ; state]``, constants read from random crops, frame subsets."""

    scheduled = {"horizon": 4}
    train_steps = 60

    def _states(self) -> dict:
        return {
            m: ContinuousTimeTransformer(s, 1, model_dim=8, num_layers=1, window=0.3)
            for m, s in SHAPES.items()
        }

    def make_model(self) -> LaDID:
        model = _ladid(K - 1, state_encoders=self._states())
        model.elbo = LaDIDObjective(embedding_weight=0.0, constants_crop=True, frames_per_window=6)
        return model

    def make_batch(self) -> MultimodalBatch:
        return _batch()

    def swap_prior(self, model: LaDID) -> LaDID:
        other = _ladid(K - 1, state_encoders=self._states(), prior=MMVMMixturePrior(K, alpha=0.5))
        other.elbo = LaDIDObjective(embedding_weight=0.0, constants_crop=True)
        return other
