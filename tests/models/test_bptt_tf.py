"""BPTT-TF: sparse teacher forcing on the observations (MTF with identity encoder/decoder)."""

from __future__ import annotations

import pytest
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.dynamics import ClippedDendPLRNN, sparse_forcing_rollout
from pyrodyn.likelihoods import Gaussian, Laplace, Poisson
from pyrodyn.models.bptt_tf import BPTTTF, BPTTTFObjective, IdentityEncoder
from pyrodyn.models.capabilities import ForecastsAhead, Generates
from pyrodyn.models.mtf import MTFObjective
from pyrodyn.testing.model import ModelConformance


def gaussian_batch(device="cpu", b=3, t=20):
    x = torch.randn(b, t, 3, generator=torch.Generator().manual_seed(0))
    return MultimodalBatch.from_tensors({"x": x}).to(device)


def wave_batch(b=4, t=12):
    g = torch.Generator().manual_seed(0)
    phase = torch.rand(b, 1, 1, generator=g) * 6.0
    steps = torch.arange(t, dtype=torch.float32)[None, :, None] * 0.6 + phase
    x = torch.cat([torch.sin(steps), torch.cos(steps), torch.sin(2 * steps)], -1)
    return MultimodalBatch.from_tensors({"x": 2.0 * x + 0.05 * torch.randn(b, t, 3, generator=g)})


@pytest.mark.parametrize("m", [3, 5])
def test_bptt_tf_is_forcing_on_observations(m, device):
    model = BPTTTF({"x": Gaussian(3, learn_scale=False)}, ClippedDendPLRNN(m, num_bases=2), tau=4)
    model = model.to(device)
    batch = gaussian_batch(device)
    torch.manual_seed(0)
    total, terms = model.loss(batch)
    assert torch.isfinite(total)
    # the objective is the Gaussian NLL of the forced rollout's predictions, nothing else
    torch.manual_seed(0)
    pred = sparse_forcing_rollout(model.dynamics, batch.obs["x"], 4)
    nll = -torch.distributions.Normal(pred[:, :-1, :3], 1.0).log_prob(batch.obs["x"][:, 1:])
    torch.testing.assert_close(total, nll.sum(-1).mean())
    assert terms["obs.x"] == pytest.approx(total.item(), rel=1e-5)
    assert set(terms) == {"nll.x", "obs.x", "lat", "kl.latent"}
    assert all(float(terms[n]) == 0.0 for n in ("nll.x", "lat", "kl.latent"))
    out = model.generate(15, init=batch, num_trials=2)
    torch.testing.assert_close(out["x"][:, 0], batch.obs["x"][:2, 0])


def test_bptt_tf_objective_and_capabilities():
    model = BPTTTF({"x": Laplace(3)}, ClippedDendPLRNN(3, num_bases=2), tau=4)
    assert isinstance(model.elbo, BPTTTFObjective) and isinstance(model.elbo, MTFObjective)
    assert model.elbo.options == {
        "rec_weight": 0.0,
        "obs_weight": 1.0,
        "lat_weight": 0.0,
        "entropy_weight": 0.0,
        "fusion_weight": 1.0,
        "input_noise": 0.0,
    }
    assert BPTTTFObjective.legacy_model_keys == frozenset()
    assert isinstance(model, Generates) and isinstance(model, ForecastsAhead)
    assert model.is_dynamical and not model.is_elbo
    # the MTF recipe still applies: a latent-consistency weight adds the lat term
    model.elbo = BPTTTFObjective(lat_weight=1.0)
    _, terms = model.loss(gaussian_batch())
    assert float(terms["lat"]) > 0


def test_bptt_tf_bad_inputs():
    with pytest.raises(ValueError, match="exactly one continuous modality"):
        BPTTTF({"c": Poisson(3)}, ClippedDendPLRNN(3, num_bases=2))
    with pytest.raises(ValueError, match="exactly one continuous modality"):
        BPTTTF({"x": Gaussian(3), "y": Gaussian(2)}, ClippedDendPLRNN(3, num_bases=2))
    with pytest.raises(ValueError, match="forcing_dim K=3 must lie in"):
        BPTTTF({"x": Gaussian(3)}, ClippedDendPLRNN(2, num_bases=2))
    with pytest.raises(ValueError, match="IdentityEncoder expects 3 channels"):
        IdentityEncoder(3)(torch.zeros(1, 2, 4))


class TestBPTTTFConformance(ModelConformance):
    train_steps = 60

    def make_model(self):
        return BPTTTF({"x": Gaussian(3)}, ClippedDendPLRNN(4, num_bases=2), tau=4)

    def make_batch(self):
        return wave_batch()

    def drop_modality(self, batch):
        # one modality only: a missing stretch instead of a missing window
        batch.mask["x"][0, 3:6] = False
        return batch
