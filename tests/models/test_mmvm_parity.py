"""MultimodalVAE.loss (the Pyro pair under its objective) equals the former hand-written loss.

``old_loss`` is the objective of ``MultimodalVAE.terms`` / ``MultimodalVAE.loss`` before the
model became a Pyro model/guide pair (commit 6fe76fb), written out here from its formulas: per
row (or step) ``sum_m w_m NLL_m + beta * sum_sites c_site KL(q_site || p_site)`` with the
registered KL or one Monte-Carlo sample, divided by the normaliser. Same seed, same draws.
"""

import pytest
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.likelihoods import Gaussian, Poisson
from pyrodyn.models.mmvm import MultimodalVAE
from pyrodyn.models.multimodal_vae_objective import MultimodalVAEObjective
from pyrodyn.nn.encoders.static_mlp import StaticMLPEncoder
from pyrodyn.nn.fusion import (
    MMVM,
    Independent,
    Mean,
    MixtureOfExperts,
    MixtureOfProductsOfExperts,
    ProductOfExperts,
)
from pyrodyn.nn.fusion.base import SHARED

FUSIONS = {
    "independent": Independent,
    "mean": Mean,
    "poe": ProductOfExperts,
    "poe_prior_expert": lambda: ProductOfExperts(prior_expert=True),
    "moe": MixtureOfExperts,
    "mopoe": MixtureOfProductsOfExperts,
    "mmvm": MMVM,
    "mmvm_lse": lambda: MMVM(estimator="lse"),
    "mmvm_mc": lambda: MMVM(estimator="mc"),
}


def make_model(fusion, static=True):
    liks = {"a": Gaussian(4), "b": Gaussian((2, 3)), "c": Poisson(5)}
    shapes = {"a": 4, "b": (2, 3), "c": 5}
    encs = {m: StaticMLPEncoder(s, 3, (8,)) for m, s in shapes.items()}
    return MultimodalVAE(liks, encs, fusion, decoder_hidden=(8,), static=static)


def make_batch(n=6, steps=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    lead = (n,) if steps is None else (n, steps)
    data = {
        "a": torch.randn(*lead, 4, generator=g),
        "b": torch.randn(*lead, 2, 3, generator=g),
        "c": torch.poisson(torch.full((*lead, 5), 2.0), generator=g),
    }
    return MultimodalBatch.from_tensors(data, static=steps is None)


def _site_kl(q, p, value):
    try:
        return torch.distributions.kl_divergence(q, p)
    except NotImplementedError:
        return q.log_prob(value) - p.log_prob(value)


def old_loss(model, batch, beta=1.0, kl_per_modality=True, alpha=None):
    """The pre-Pyro-pair objective (total, unweighted terms) of a MultimodalVAE."""
    options = {} if alpha is None else {"alpha": alpha}
    post, present = model.posteriors(batch)
    guides = model.fusion.guide_distributions(post, present)
    priors = model.fusion.prior_distributions(post, present, **options)
    site_present = model.fusion.site_present(post, present)
    z = {k: g.rsample() for k, g in guides.items()}
    per_row = {}
    for k, g in guides.items():
        kl = _site_kl(g, priors[k], z[k])
        if k == SHARED and kl_per_modality:
            count = torch.stack([present[m] for m in model.modalities]).sum(0)
            kl = kl * count.to(kl.dtype)
        kl = torch.where(site_present[k], kl, torch.zeros_like(kl))
        per_row[f"kl.{k}"] = kl if batch.static else kl.sum(-1)
    for m in model.modalities:
        params = model.decoders[m](model.fusion.decoder_input(m, z))
        lp = model.likelihoods[m].log_prob(params, batch.obs[m], batch.mask[m])
        per_row[f"nll.{m}"] = -(lp if batch.static else lp.sum(-1))
    norm = model.normaliser(batch)
    total, terms = 0.0, {}
    for key, value in per_row.items():
        weight = beta if key.startswith("kl.") else model.modality_weights[key[4:]]
        terms[key] = value.sum() / norm
        total = total + weight * terms[key]
    return total, terms


def _batch(static):
    if static:
        batch = make_batch(n=6, seed=4)
        rows = torch.tensor([True, False, True, False, False, False])
        return batch.drop("c", rows=rows).drop("a", rows=~rows & (torch.arange(6) == 3))
    batch = make_batch(n=6, steps=5, seed=4)
    mask = dict(batch.mask)
    mask["c"] = mask["c"].clone()
    mask["c"][0] = False  # a whole sequence without c
    mask["c"][1, 1:3] = False  # c missing at some steps only
    mask["a"] = mask["a"].clone()
    mask["a"][2, 4] = False
    return MultimodalBatch(
        obs=batch.obs, mask=mask, lengths=torch.tensor([5, 5, 5, 3, 4, 5]), static=False
    )


@pytest.mark.parametrize("kl_per_modality", [True, False])
@pytest.mark.parametrize("static", [True, False], ids=["static", "sequence"])
@pytest.mark.parametrize("name", list(FUSIONS))
def test_new_loss_equals_the_old_loss(name, static, kl_per_modality):
    model = make_model(FUSIONS[name](), static=static)
    model.modality_weights["b"] = 0.5
    model.elbo = MultimodalVAEObjective(beta=0.7, kl_per_modality=kl_per_modality)
    batch = _batch(static)
    alpha = 0.3 if "mmvm" in name else None
    scheduled = {} if alpha is None else {"alpha": alpha}
    torch.manual_seed(11)
    total, terms = model.loss(batch, **scheduled)
    torch.manual_seed(11)
    old_total, old_terms = old_loss(model, batch, 0.7, kl_per_modality, alpha)
    torch.testing.assert_close(total, old_total, rtol=1e-5, atol=1e-6)
    # the term names are the old ones; the new terms include their weights (beta, w_m)
    assert set(terms) == set(old_terms)
    for key, value in old_terms.items():
        weight = 0.7 if key.startswith("kl.") else model.modality_weights[key[4:]]
        torch.testing.assert_close(terms[key], weight * value.detach(), rtol=1e-5, atol=1e-6)


def test_scheduled_beta_overrides_the_objective_option():
    model = make_model(FUSIONS["poe"]())
    model.elbo = MultimodalVAEObjective(beta=0.2)
    batch = _batch(True)
    torch.manual_seed(0)
    total, _ = model.loss(batch, beta=0.9)
    torch.manual_seed(0)
    old_total, _ = old_loss(model, batch, 0.9)
    torch.testing.assert_close(total, old_total, rtol=1e-5, atol=1e-6)


def test_default_objective_is_the_old_default_recipe():
    model = make_model(FUSIONS["mopoe"]())
    assert isinstance(model.elbo, MultimodalVAEObjective)
    batch = _batch(True)
    torch.manual_seed(2)
    total, _ = model.loss(batch)
    torch.manual_seed(2)
    old_total, _ = old_loss(model, batch, 1.0, True)
    torch.testing.assert_close(total, old_total, rtol=1e-5, atol=1e-6)
    assert isinstance(model, MultimodalVAE)
