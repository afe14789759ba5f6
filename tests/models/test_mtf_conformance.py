"""MTF passes the model conformance kit (joint encoder; per-modality encoders + MMVM fusion)."""

from __future__ import annotations

import pyro
import pytest
import torch
from pyro.infer import Predictive

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.dynamics import ClippedDendPLRNN
from pyrodyn.likelihoods import Gaussian, Ordinal, Poisson
from pyrodyn.models.mtf import MTF
from pyrodyn.nn.encoders.temporal_conv import TemporalConvEncoder
from pyrodyn.nn.fusion import MMVM
from pyrodyn.priors.flat import FlatPrior
from pyrodyn.priors.ou import OrnsteinUhlenbeckPrior
from pyrodyn.testing.model import ModelConformance, check_model_guide


def _liks():
    return {"g": Gaussian(2), "p": Poisson(2), "o": Ordinal(2, 4)}


def _batch(b: int = 4, t: int = 12) -> MultimodalBatch:
    """Noisy oscillations (structure to learn) seen through every modality."""
    g = torch.Generator().manual_seed(0)
    phase = torch.rand(b, 1, 1, generator=g) * 6.0
    steps = torch.arange(t, dtype=torch.float32)[None, :, None]
    wave = torch.cat([torch.sin(0.6 * steps + phase), torch.cos(0.6 * steps + phase)], -1)
    return MultimodalBatch.from_tensors(
        {
            "g": 2.0 + 2.0 * wave + 0.1 * torch.randn(b, t, 2, generator=g),
            "p": torch.poisson((1.0 + 0.8 * wave).exp(), generator=g),
            "o": (2.5 + 1.5 * wave).round().clamp(1, 4),
        }
    )


def _joint(prior=None, k: int = 3, m: int = 4) -> MTF:
    encoder = TemporalConvEncoder(6, k, kernel_sizes=(3,))
    return MTF(_liks(), ClippedDendPLRNN(m, num_bases=2), k, tau=4, encoder=encoder, prior=prior)


def _fused(prior=None, k: int = 3) -> MTF:
    encoders = {m: TemporalConvEncoder(2, k, kernel_sizes=(3,)) for m in ("g", "p", "o")}
    return MTF(
        _liks(), ClippedDendPLRNN(k, num_bases=2), k, tau=4, encoders=encoders, fusion=MMVM(),
        prior=prior,
    )  # fmt: skip


class TestMTFConformance(ModelConformance):
    train_steps = 60  # the oscillating batch gives a > 30 % decrease well within 60 steps

    def make_model(self):
        return _joint()

    def make_batch(self):
        return _batch()

    def swap_prior(self, model):
        return _joint(prior=OrnsteinUhlenbeckPrior(3, timescale=5.0))


class TestMTFFusionConformance(ModelConformance):
    train_steps = 60

    def make_model(self):
        return _fused()

    def make_batch(self):
        return _batch()

    def swap_prior(self, model):
        return _fused(prior=OrnsteinUhlenbeckPrior(3, timescale=5.0))


# ---------------------------------------------------------------------------- prior slot
def test_prior_slot_defaults_to_flat_and_checks_the_slot():
    model = _joint()
    assert isinstance(model.prior, FlatPrior) and model.prior.latent_dim == 3
    with pytest.raises(ValueError, match="MTF slot 'prior' needs latent_dim 3"):
        _joint(prior=OrnsteinUhlenbeckPrior(4))
    with pytest.raises(TypeError, match="MTF slot 'prior' needs a LatentPrior"):
        _joint(prior="ou")


def test_a_prior_adds_its_log_density_to_the_latent_term():
    batch = _batch()
    flat, ou = _joint(), _joint(prior=OrnsteinUhlenbeckPrior(3, timescale=5.0))
    ou.load_state_dict(flat.state_dict(), strict=False)
    torch.manual_seed(0)
    _, a = flat.loss(batch)
    torch.manual_seed(0)
    _, b = ou.loss(batch)
    assert set(a) == set(b)
    assert float(a["kl.latent"]) != pytest.approx(float(b["kl.latent"]))
    check_model_guide(ou, batch)


# ---------------------------------------------------------------------------- vectorisation
@pytest.mark.parametrize("k", [3, 4])
def test_model_scores_each_leading_sample_like_a_single_latent(k):
    """A (S, B, T, K) latent gives the per-sample factors of S separate (B, T, K) runs."""
    model = _joint(k=k, m=4).eval()
    batch = _batch()
    pyro.set_rng_seed(0)
    pred = Predictive(model.model, guide=model.guide, num_samples=3, parallel=True)
    with torch.no_grad():
        z = pred(batch)["latent"]
    assert z.shape == (3, 4, 12, k)
    tr = pyro.poutine.trace(pyro.poutine.condition(model.model, {"latent": z}))
    pyro.set_rng_seed(1)
    with torch.no_grad(), pyro.plate("particles", 3, dim=-2):
        sites = tr.get_trace(batch).nodes
    for s in range(3):
        pyro.set_rng_seed(1)
        one = pyro.poutine.trace(pyro.poutine.condition(model.model, {"latent": z[s]}))
        with torch.no_grad():
            single = one.get_trace(batch).nodes
        for name in ("obs.g", "lat"):
            if k == 4:  # K == M: no random initial units, so the rows agree exactly
                torch.testing.assert_close(
                    sites[name]["fn"].log_factor[s], single[name]["fn"].log_factor
                )
        lik = single["likelihoods.g.obs"]["fn"].log_prob(batch.obs["g"])
        torch.testing.assert_close(
            sites["likelihoods.g.obs"]["fn"].log_prob(batch.obs["g"])[s], lik
        )
