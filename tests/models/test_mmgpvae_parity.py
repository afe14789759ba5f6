"""MMGPVAE.loss (the Pyro pair under its default objective) equals the former hand-written loss.

``old_loss`` writes out the objective of ``MMGPVAE.loss`` before it was removed (commit
6fe76fb): per group the registered ``KL(q || p)`` of the guide's distribution and the prior's
(else one Monte-Carlo sample), minus the kernels' hyperprior log densities, plus the weighted
masked negative log-likelihoods, all divided by the number of observed steps. Same seed, same
draws.
"""

import pytest
import torch
from gpytorch.kernels import MaternKernel, RBFKernel
from gpytorch.priors import GammaPrior

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.dynamics.base import LinearDynamics
from pyrodyn.likelihoods import Gaussian, Poisson
from pyrodyn.models.mmgpvae import MMGPVAE
from pyrodyn.nn.fusion import ProductOfExperts
from pyrodyn.priors import (
    DenseGPPrior,
    DynamicalPrior,
    FourierGPPrior,
    OrnsteinUhlenbeckPrior,
    StandardNormalPrior,
)


def old_loss(model, batch):
    """The removed ``MMGPVAE.loss``: (total, terms) per observed step."""
    model.init_from_data(batch)
    ctx = model.context(batch)
    qs = model.posteriors(batch)
    norm = model.normaliser(batch)
    terms, latents = {}, {}
    for name, prior in model.groups().items():
        q = qs[name].to_event(len(qs[name].batch_shape) - 1)
        value = q.rsample()
        p = prior.distribution(ctx)
        try:
            kl = torch.distributions.kl_divergence(q, p).sum()
        except NotImplementedError:
            kl = (q.log_prob(value) - p.log_prob(value)).sum()
        terms[f"kl.{name}"] = kl / norm
        latents[name] = prior.to_latent(value, ctx)
        lp = getattr(prior, "hyperprior_log_prob", lambda: None)()
        if lp is not None:
            terms["hyperprior"] = terms.get("hyperprior", 0.0) - lp / norm
    params = model._decode_params(latents)
    valid = batch.valid_steps()
    for m in model.modalities:
        mask = batch.mask[m] & valid.reshape(*valid.shape, 1)
        lp = model.likelihoods[m].log_prob(params[m], batch.obs[m], mask).sum()
        terms[f"nll.{m}"] = -model.modality_weights[m] * lp / norm
    return sum(terms.values()), terms


def _batch():
    g = torch.Generator().manual_seed(3)
    b, t = 5, 14
    spikes = torch.poisson(torch.full((b, t, 6), 3.0), generator=g)
    images = torch.randn(b, t, 4, generator=g)
    lengths = torch.tensor([14, 14, 10, 8, 14])
    for i, ell in enumerate(lengths.tolist()):
        spikes[i, ell:] = float("nan")
        images[i, ell:] = float("nan")
    images[1] = float("nan")  # a trial without images
    spikes[2, 2:5] = float("nan")  # spikes missing at some steps
    return MultimodalBatch.from_tensors({"spikes": spikes, "images": images}, lengths=lengths)


def _kernel_with_hyperprior():
    kernel = RBFKernel(batch_shape=torch.Size([1]))
    kernel.register_prior("lengthscale_prior", GammaPrior(3.0, 0.5), "lengthscale")
    kernel.lengthscale = 4.0
    return kernel


PRIORS = {
    "fourier_with_hyperprior": lambda: {
        "shared_prior": FourierGPPrior(kernel=_kernel_with_hyperprior(), latent_dim=1),
    },
    "standard_normal_and_ou": lambda: {
        "shared_prior": StandardNormalPrior(1),
        "private_priors": {"spikes": OrnsteinUhlenbeckPrior(2, timescale=3.0)},
    },
    "dense_and_dynamical": lambda: {
        "shared_prior": DenseGPPrior(kernel=MaternKernel(nu=1.5), latent_dim=1),
        "private_priors": {"images": DynamicalPrior(LinearDynamics(1))},
    },
}


@pytest.mark.parametrize("fusion", [None, ProductOfExperts], ids=["mean", "poe"])
@pytest.mark.parametrize("priors", list(PRIORS))
def test_new_loss_equals_the_old_loss(priors, fusion):
    torch.manual_seed(0)
    model = MMGPVAE(
        {"spikes": Poisson(6), "images": Gaussian(4)},
        private_dims={"spikes": 2, "images": 1},
        encoder_hidden=(8,),
        decoder_hidden={"images": (8,)},
        lengthscale=4.0,
        modality_weights={"images": 0.7},
        fusion=None if fusion is None else fusion(),
        **PRIORS[priors](),
    )
    batch = _batch()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(5)
    total, terms = model.loss(batch)
    model.load_state_dict(state)  # the first call initialised the intercepts: start over
    torch.manual_seed(5)
    old_total, old_terms = old_loss(model, batch)
    torch.testing.assert_close(total, old_total, rtol=1e-5, atol=1e-6)
    assert set(terms) == set(old_terms)
    for key, value in old_terms.items():
        torch.testing.assert_close(terms[key], value.detach(), rtol=1e-5, atol=1e-6)
