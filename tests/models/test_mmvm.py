import pyro
import pytest
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.likelihoods.gaussian import Gaussian
from pyrodyn.likelihoods.poisson import Poisson
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
from pyrodyn.testing.model import check_model_guide

FUSIONS = {
    "independent": Independent,
    "mean": Mean,
    "poe": ProductOfExperts,
    "moe": MixtureOfExperts,
    "mopoe": MixtureOfProductsOfExperts,
    "mmvm": MMVM,
    "mmvm_lse": lambda: MMVM(alpha=0.2, estimator="lse"),
    "mmvm_mc": lambda: MMVM(estimator="mc"),
}
D = 3


def make_model(fusion, static=True, latent=D, **kw):
    liks = {"a": Gaussian(4), "b": Gaussian((2, 3)), "c": Poisson(5)}
    shapes = {"a": 4, "b": (2, 3), "c": 5}
    encs = {m: StaticMLPEncoder(s, latent, (8,)) for m, s in shapes.items()}
    return MultimodalVAE(liks, encs, fusion, decoder_hidden=(8,), static=static, **kw)


def make_batch(n=6, steps=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    lead = (n,) if steps is None else (n, steps)
    data = {
        "a": torch.randn(*lead, 4, generator=g),
        "b": torch.randn(*lead, 2, 3, generator=g),
        "c": torch.poisson(torch.full((*lead, 5), 2.0), generator=g),
    }
    extras = {"label": torch.arange(n) % 2}
    return MultimodalBatch.from_tensors(data, static=steps is None, extras=extras)


@pytest.mark.parametrize("name", list(FUSIONS))
@pytest.mark.parametrize("static", [True, False])
def test_loss_terms_and_gradients(name, static):
    model = make_model(FUSIONS[name](), static=static)
    batch = make_batch(steps=None if static else 5)
    batch = batch.drop("c", rows=torch.tensor([True, False, False, False, False, False]))
    total, terms = model.loss(batch, alpha=0.5) if "mmvm" in name else model.loss(batch)
    assert torch.isfinite(total)
    assert {"nll.a", "nll.b", "nll.c"} <= set(terms)
    kl_keys = {k for k in terms if k.startswith("kl.")}
    assert kl_keys == (
        {"kl.a", "kl.b", "kl.c"} if model.fusion.per_modality_latents else {"kl.shared"}
    )
    total.backward()
    for m in "abc":
        grads = [p.grad for p in model.encoders[m].parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), m
    check_model_guide(model, batch)


def test_is_elbo_flag():
    assert not make_model(MMVM()).is_elbo
    assert make_model(Mean()).is_elbo


def test_alpha_one_equals_independent():
    mmvm = make_model(MMVM(alpha=1.0))
    indep = make_model(Independent())
    indep.load_state_dict(mmvm.state_dict())
    batch = make_batch()
    torch.manual_seed(3)
    l1, t1 = mmvm.loss(batch)
    torch.manual_seed(3)
    l2, t2 = indep.loss(batch)
    torch.testing.assert_close(l1, l2)
    for k in t1:
        torch.testing.assert_close(t1[k], t2[k])


def test_loss_equals_hand_computation_and_pyro_mean_field_elbo():
    model = make_model(MMVM(alpha=0.1))
    model.elbo = MultimodalVAEObjective(beta=0.5)
    batch = make_batch()
    torch.manual_seed(1)
    total, _ = model.loss(batch)
    # hand: nll of the same samples + beta * pairwise regulariser, per sample
    torch.manual_seed(1)
    post, present = model.posteriors(batch)
    z = {m: q.rsample() for m, q in post.items()}
    nll = sum(
        -model.likelihoods[m].log_prob(model.decoders[m](z[m]), batch.obs[m], batch.mask[m]).sum()
        for m in model.modalities
    )
    reg = model.fusion.regularizer(post, present).sum()
    torch.testing.assert_close(total, (nll + 0.5 * reg) / batch.num_sequences)
    # Pyro's TraceMeanField_ELBO uses the registered pairwise KL: same value
    torch.manual_seed(1)
    elbo = pyro.infer.TraceMeanField_ELBO().differentiable_loss(
        model.model, model.guide, batch, beta=0.5
    )
    torch.testing.assert_close(elbo / batch.num_sequences, total)


def test_missing_modality_has_no_likelihood_term():
    model = make_model(MMVM())
    batch = make_batch()
    rows = torch.tensor([True, True, False, False, False, False])
    dropped = batch.drop("a", rows=rows)
    changed = MultimodalBatch(
        obs={**dropped.obs, "a": dropped.obs["a"] + 100 * rows[:, None]},
        mask=dropped.mask,
        extras=dropped.extras,
        static=True,
    )
    torch.manual_seed(0)
    l1, _ = model.loss(dropped)
    torch.manual_seed(0)
    l2, _ = model.loss(changed)
    torch.testing.assert_close(l1, l2)


def test_scheduled_alpha_changes_the_regulariser():
    model = make_model(MMVM())
    batch = make_batch()
    torch.manual_seed(0)
    _, t0 = model.loss(batch, alpha=0.0)
    torch.manual_seed(0)
    _, t1 = model.loss(batch, alpha=1.0)
    assert not torch.allclose(t0["kl.a"], t1["kl.a"])
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        model.loss(batch, alpha=2.0)


@pytest.mark.parametrize("name", ["mmvm", "poe", "mopoe"])
def test_encode_impute_reconstruct(name):
    model = make_model(FUSIONS[name]())
    batch = make_batch()
    enc = model.encode(batch)
    assert set(enc) == {"latent", "latent_a", "latent_b", "latent_c"}
    assert all(v.shape == (6, D) for v in enc.values())
    out = model.impute(batch, ["a"])
    assert out["b"].shape == (6, 2, 3) and out["c"].shape == (6, 5)
    # imputation ignores what the batch holds for the other modalities
    other = MultimodalBatch(
        obs={**batch.obs, "b": batch.obs["b"] + 5.0}, mask=batch.mask, static=True
    )
    torch.testing.assert_close(model.impute(other, ["a"])["b"], out["b"])
    assert model.impute(batch, ["a"], sample=True)["b"].shape == (6, 2, 3)
    rec = model.reconstruct(batch)
    assert rec["a"].shape == (6, 4)


def test_sequences_per_step_latents():
    model = make_model(MMVM(), static=False)
    batch = make_batch(steps=7)
    enc = model.encode(batch)
    assert enc["latent"].shape == (6, 7, D) and enc["latent_b"].shape == (6, 7, D)


def test_bad_inputs():
    with pytest.raises(ValueError, match="share one latent size"):
        MultimodalVAE(
            {"a": Gaussian(4), "b": Gaussian(4)},
            {"a": StaticMLPEncoder(4, 3), "b": StaticMLPEncoder(4, 2)},
            MMVM(),
        )
    with pytest.raises(ValueError, match="encoders must name exactly"):
        MultimodalVAE({"a": Gaussian(4), "b": Gaussian(4)}, {"a": StaticMLPEncoder(4, 3)}, MMVM())
    with pytest.raises(TypeError, match="fusion must be a pyrodyn Fusion"):
        MultimodalVAE({"a": Gaussian(4)}, {"a": StaticMLPEncoder(4, 3)}, "mmvm")
    model = make_model(MMVM())
    batch = make_batch()
    for m in "abc":
        batch = batch.drop(m, rows=torch.tensor([True] + [False] * 5))
    with pytest.raises(ValueError, match="every modality is missing in rows"):
        model.loss(batch)
    with pytest.raises(ValueError, match="available must name"):
        model.impute(make_batch(), ["z"])
    with pytest.raises(ValueError, match="expects sequences"):
        make_model(MMVM(), static=False).loss(make_batch())
