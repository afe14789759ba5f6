"""The structured (Markov) guide family: its distribution, SVAE's option, and its ELBO on an LGSSM.

The LGSSM test fits only the guide of an SVAE that is exactly a linear-Gaussian state-space
model and compares its ELBO with the exact ``log p(y)`` of the Kalman filter; the ELBO itself is
estimated with the LGSSM's own log joint (:meth:`LinearGaussianSSM.log_joint`), not Pyro's.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gpytorch.kernels import RBFKernel
from scipy.stats import norm

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.diagnostics.kalman import kalman_filter
from pyrodyn.distributions.markov_gaussian import MarkovGaussian
from pyrodyn.likelihoods.gaussian import Gaussian
from pyrodyn.models.svae import SVAE
from pyrodyn.objectives import TraceELBO
from pyrodyn.priors.gp import FourierGPPrior
from pyrodyn.priors.guide import MeanField
from pyrodyn.priors.structured import StructuredMarkov
from pyrodyn.testing.lgssm import fit_encoder, lgssm_batch, lgssm_svae

D, T, B = 2, 20, 8


def _svae(**kwargs) -> SVAE:
    return SVAE({"y": Gaussian(3)}, D, **kwargs)


def _batch(model: SVAE, b: int = 3, t: int = 7, seed: int = 0):
    y = torch.randn(b, t, 3, generator=torch.Generator().manual_seed(seed))
    return lgssm_batch(model, y)


def test_svae_chooses_the_family_by_name():
    assert isinstance(_svae().guide_family, MeanField)
    assert isinstance(_svae(guide_family="mean_field").guide_family, MeanField)
    model = _svae(guide_family="structured")
    assert isinstance(model.guide_family, StructuredMarkov)
    q = model.variational(_batch(model))
    assert isinstance(q, MarkovGaussian) and q.batch_shape == (3,) and q.event_shape == (7, D)
    with pytest.raises(ValueError, match="guide_family must be 'mean_field' or 'structured'"):
        _svae(guide_family="markov")


def test_untrained_structured_guide_is_the_mean_field_guide():
    """Zero heads: independent steps with the encoder's means and scales (scipy reference)."""
    model = _svae(guide_family="structured")
    batch = _batch(model)
    enc = model.posterior(batch)
    q = model.variational(batch)
    z = torch.randn(2, 3, 7, D, generator=torch.Generator().manual_seed(1))
    ref = norm(enc.loc.detach().numpy(), enc.scale.detach().numpy()).logpdf(z.numpy())
    np.testing.assert_allclose(
        q.log_prob(z).detach().numpy(), ref.sum((-1, -2)), rtol=1e-5, atol=1e-5
    )


def test_padding_steps_leave_the_valid_steps_alone():
    """Short sequences: the valid steps' density ignores the padding (given the encoder's output;
    the encoder's own receptive field is the encoder's business, as for mean-field)."""
    model = _svae(guide_family="structured")
    family = model.guide_family
    with torch.no_grad():  # a nonzero coupling, so padding could leak if it were not cut
        family.head.bias.normal_(0.0, 0.3, generator=torch.Generator().manual_seed(2))
    y = torch.randn(2, 6, 3, generator=torch.Generator().manual_seed(3))
    padded_batch = MultimodalBatch.from_tensors({"y": y}, lengths=torch.tensor([4, 6]))
    enc = model.posterior(padded_batch)
    padded = model.variational(padded_batch)
    short_batch = lgssm_batch(model, y[:1, :4])
    short = family(model.prior, enc.loc[:1, :4], enc.scale[:1, :4], model._context(short_batch))
    z = torch.randn(6, D, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(padded.log_prob(z)[0], short.log_prob(z[:4])[0])
    # and the second, unpadded sequence is its own full chain
    whole = family(
        model.prior, enc.loc[1:], enc.scale[1:], model._context(lgssm_batch(model, y[1:]))
    )
    torch.testing.assert_close(padded.log_prob(z)[1], whole.log_prob(z)[0])
    loss, _ = model.loss(padded_batch)
    assert torch.isfinite(loss)


def test_structured_refuses_non_trajectory_sites():
    family = StructuredMarkov(D)
    model = _svae(prior=FourierGPPrior(D, RBFKernel()), guide_family=family)
    with pytest.raises(ValueError, match="FourierGPPrior has its own parameterisation"):
        model.variational(_batch(model))
    ctx = model._context(_batch(model))
    with pytest.raises(ValueError, match="needs a sequence slot"):
        family(model.prior, torch.zeros(3, D), torch.ones(3, D), ctx)
    with pytest.raises(ValueError, match="built for latent_dim 2"):
        family(model.prior, torch.zeros(3, 7, 4), torch.ones(3, 7, 4), ctx)


def _fit_guide(family: str, steps: int, seed: int = 0) -> tuple[float, float]:
    """(exact log p(y), ELBO) per step after fitting encoder and guide family only."""
    model, ssm = lgssm_svae(D, 3, seed=seed)
    _, y = ssm.sample(B, T, generator=torch.Generator().manual_seed(seed + 1))
    batch = lgssm_batch(model, y)
    if family == "structured":
        model.guide_family = StructuredMarkov(D).to(torch.float64)
    model.elbo = TraceELBO(num_particles=4, vectorize_particles=True)
    fit_encoder(model, batch, steps, seed=seed, cosine=True)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        with torch.no_grad():
            q = model.variational(batch)
            z = q.rsample((2000,))
            elbo = (ssm.log_joint(z, y) - q.log_prob(z)).mean()
    exact = kalman_filter(ssm, y).log_marginal.mean()
    return float(exact) / T, float(elbo) / T


def test_structured_elbo_is_near_exact_on_an_lgssm():
    """Same budget (500 Adam steps, 4 particles, clipped): the structured ELBO is within 0.03
    nats/step of log p(y) (the issue's target is 0.05; measured 0.008 here, at most 0.016 over
    seeds 0-2), mean-field at least 0.1 below it (measured 0.22: its factorisation cannot
    represent the correlated posterior, and 1500 steps leave it at 0.20)."""
    exact, structured = _fit_guide("structured", 500)
    _, mean_field = _fit_guide("mean_field", 500)
    assert exact - structured < 0.03, (exact, structured, mean_field)
    assert structured - mean_field > 0.1, (exact, structured, mean_field)
