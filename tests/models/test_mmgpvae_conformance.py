"""MMGPVAE passes the model conformance kit; every shipped sequence prior fits its slots."""

import pyro
import pytest
import torch
from gpytorch.kernels import MaternKernel, RBFKernel
from pyro.infer import Predictive

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.dynamics.base import LinearDynamics
from pyrodyn.likelihoods import Gaussian, Poisson
from pyrodyn.models.mmgpvae import MMGPVAE
from pyrodyn.priors import (
    DenseGPPrior,
    DynamicalPrior,
    FourierGPPrior,
    MMVMMixturePrior,
    OrnsteinUhlenbeckPrior,
    StandardNormalPrior,
)
from pyrodyn.testing.model import ModelConformance, check_model_guide, check_svi_step


def _model(**kw):
    return MMGPVAE(
        {"spikes": Poisson(5), "images": Gaussian(3)},
        encoder_hidden=(8,),
        decoder_hidden={"images": (8,)},
        lengthscale=3.0,
        **kw,
    )


def _batch(b=4, t=12):
    g = torch.Generator().manual_seed(0)
    steps = torch.arange(t, dtype=torch.float32)
    wave = torch.sin(steps / 2.0)[None, :, None]
    return MultimodalBatch.from_tensors(
        {
            "spikes": torch.poisson(4.0 * (1.2 + wave).expand(b, t, 5), generator=g),
            "images": 2.0 * wave + 0.3 * torch.randn(b, t, 3, generator=g),
        }
    )


class TestMMGPVAEConformance(ModelConformance):
    # a small model learns the fixed batch quickly: half the kit's default steps keep it cheap
    train_steps = 100
    lr = 2e-2

    def make_model(self):
        return _model(private_dims={"spikes": 1, "images": 1})

    def make_batch(self):
        return _batch()

    def swap_prior(self, model):
        return _model(shared_prior=OrnsteinUhlenbeckPrior(1, timescale=3.0))


def _prior(name, dim):
    if name == "standard_normal":
        return StandardNormalPrior(dim)
    if name == "ou":
        return OrnsteinUhlenbeckPrior(dim, timescale=3.0)
    if name == "dynamical":
        return DynamicalPrior(LinearDynamics(dim))
    if name == "fourier_gp":
        return FourierGPPrior(
            kernel=RBFKernel(batch_shape=torch.Size([dim])), latent_dim=dim, lengthscale=3.0
        )
    return DenseGPPrior(kernel=MaternKernel(nu=1.5, batch_shape=torch.Size([dim])), latent_dim=dim)


SEQUENCE_PRIORS = ["standard_normal", "ou", "dynamical", "fourier_gp", "dense_gp"]


@pytest.mark.parametrize("slot", ["shared", "private"])
@pytest.mark.parametrize("name", SEQUENCE_PRIORS)
def test_every_shipped_sequence_prior_works_in_every_slot(name, slot):
    kw = (
        {"shared_prior": _prior(name, 1)}
        if slot == "shared"
        else {
            "private_dims": {"spikes": 2, "images": 1},
            "private_priors": {"spikes": _prior(name, 2)},
        }
    )
    model = _model(**kw)
    batch = MultimodalBatch.from_tensors(
        {m: x for m, x in _batch().obs.items()}, lengths=torch.tensor([12, 12, 9, 7])
    )
    batch = batch.drop("images", rows=torch.tensor([False, True, False, False]))
    check_model_guide(model, batch)
    check_svi_step(model, batch)
    assert model.is_elbo
    # vectorised over leading sample dims: Predictive(parallel=True) and vectorised particles
    pred = Predictive(model.model, guide=model.guide, num_samples=3, parallel=True)
    with torch.no_grad():
        out = pred(batch.without_observations())
    assert out["likelihoods.images.obs"].shape == (3, 4, 12, 3)
    elbo = model.elbo.__class__(num_particles=3, vectorize_particles=True, max_plate_nesting=1)
    assert torch.isfinite(elbo.differentiable_loss(model.model, model.guide, batch))
    assert model.encode(batch)["latent"].shape[:2] == (4, 12)


def test_mmvm_mixture_prior_in_the_shared_slot():
    model = _model(shared_prior=MMVMMixturePrior(1, alpha=0.2))
    batch = _batch()
    assert not model.is_elbo
    check_model_guide(model, batch)
    check_svi_step(model, batch)
    pyro.set_rng_seed(0)
    _, terms = model.loss(batch)
    assert {"kl.shared", "kl.private_spikes", "kl.private_images"} <= set(terms)


def test_mmvm_mixture_prior_is_refused_in_a_private_slot():
    with pytest.raises(
        ValueError, match=r"MMGPVAE slot \"private_priors\['spikes'\]\" provides no"
    ):
        _model(private_priors={"spikes": MMVMMixturePrior(1)})


def test_static_prior_is_refused_naming_the_slot():
    from pyrodyn.priors.base import SEQUENCE, STATIC, LatentPrior

    class StaticOnly(LatentPrior):
        slot_shapes = frozenset({STATIC})

    assert SEQUENCE not in StaticOnly.slot_shapes
    with pytest.raises(ValueError, match="MMGPVAE slot 'shared_prior' is a sequence slot"):
        _model(shared_prior=StaticOnly(1))
