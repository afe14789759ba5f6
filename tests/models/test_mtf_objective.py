"""MTF's objective: the ELBO of the pair equals the pre-redesign hand-written loss.

``legacy_loss`` is the objective of the MTF class before its recipe moved into
:class:`MTFObjective` (``MTF._terms`` / ``MTF.loss`` at commit 6fe76fb), copied here and run on
the new model's parts with the same random draws in the same order; ``model.loss`` must equal it.
"""

from __future__ import annotations

import pyro.distributions as dist
import pytest
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.dynamics import ClippedDendPLRNN
from pyrodyn.likelihoods import Gaussian, Ordinal, Poisson
from pyrodyn.models.mtf import MTF, MTFObjective, MTFReferenceObjective
from pyrodyn.nn.encoders.temporal_conv import TemporalConvEncoder
from pyrodyn.nn.fusion import MMVM

_WEIGHTS = ("rec_weight", "obs_weight", "lat_weight", "entropy_weight", "fusion_weight")


# ---------------------------------------------------------------------------- the old formula
def _noisy(model, mod, x, input_noise, compat):
    if not model.training or input_noise == 0:
        return x
    if compat or isinstance(model.likelihoods[mod], Gaussian):
        return x + input_noise * torch.randn_like(x)
    return x


def _experts(model, batch, input_noise, compat):
    b, t = batch.num_sequences, batch.num_steps
    posts, present = {}, {}
    for mod in model.modalities:
        mask = batch.mask[mod].reshape(b, t, -1)
        x = _noisy(model, mod, batch.obs[mod].reshape(b, t, -1).float(), input_noise, compat)
        posts[mod] = model.encoders[mod](x * mask, mask)
        present[mod] = mask.any(-1)
    return posts, present


def _posterior(model, batch, input_noise, compat):
    b, t = batch.num_sequences, batch.num_steps
    xs, ms = [], []
    for mod in model.modalities:
        mask = batch.mask[mod].reshape(b, t, -1)
        x = batch.obs[mod].reshape(b, t, -1).float()
        xs.append(_noisy(model, mod, x, input_noise, compat) * mask)
        ms.append(mask)
    return model.encoder(torch.cat(xs, -1), torch.cat(ms, -1))


def legacy_loss(model, batch, *, input_noise=0.01, compat=False, weights=None, **scheduled):
    """``MTF.loss`` before the redesign: ``(total, terms)`` (terms unweighted, as then)."""
    wt = {w: 1.0 for w in _WEIGHTS} | dict(weights or {})
    wt.update({w: scheduled[w] for w in _WEIGHTS if w in scheduled})
    t = batch.num_steps
    reg = None
    if model.encoders is None:
        q = _posterior(model, batch, input_noise, compat)
    else:
        posts, present = _experts(model, batch, input_noise, compat)
        q = model.fusion.posterior(posts, present)
        options = {}
        if scheduled.get("fusion_alpha") is not None:
            options["alpha"] = scheduled["fusion_alpha"]
        reg = model.fusion.regularizer(posts, present, **options)
    z = q.rsample() if model.sample_latent else q.loc
    pred = model.rollout(z, batch.inputs, scheduled.get("alpha"))
    valid = batch.valid_steps()
    v_rec = valid.to(z.dtype)
    v_next = (valid[:, 1:]).to(z.dtype)
    n_rec = v_rec.sum().clamp_min(1)
    n_next = v_next.sum().clamp_min(1)
    k = model.forcing_dim
    both = torch.cat([z, pred[:, :-1, :k]], 1)
    params = model.decode(both)
    terms = {}
    for mod in model.modalities:
        lik = model.likelihoods[mod]
        p_rec = {n: v[:, :t] for n, v in params[mod].items()}
        p_gen = {n: v[:, t:] for n, v in params[mod].items()}
        x, mask = batch.obs[mod], batch.mask[mod]
        w = model.modality_weights.get(mod, 1.0)
        if compat and isinstance(lik, Gaussian):
            rec = 0.5 * ((lik.mean(p_rec) - x) * mask)[0].square().sum()
            gen = 0.5 * ((lik.mean(p_gen) - x[:, 1:]) * mask[:, 1:])[0].square().sum()
        else:
            x_rec = x
            if compat and isinstance(lik, Ordinal) and model.training:
                noisy = torch.trunc(x + input_noise * torch.randn_like(x))
                x_rec = torch.where(noisy < 1, torch.full_like(x, 2.0), noisy)
            rec = -(lik.log_prob(p_rec, x_rec, mask) * v_rec).sum() / n_rec
            gen = -(lik.log_prob(p_gen, x[:, 1:], mask[:, 1:]) * v_next).sum() / n_next
        terms[f"rec.{mod}"] = w * rec
        terms[f"obs.{mod}"] = w * gen
    target, guess = z[:, 1:], pred[:, :-1, :k]
    if compat:
        lat = ((target - guess).square() * v_next[..., None]).sum() / (n_next * k)
        ent = (q.scale.log().sum(-1) * v_rec).sum() / n_rec
    else:
        lat_lp = dist.Normal(guess, model.latent_scale).log_prob(target).sum(-1)
        lat = -(lat_lp * v_next).sum() / n_next
        ent = (q.entropy().sum(-1) * v_rec).sum() / n_rec
    terms["lat"] = lat
    terms["entropy"] = ent if model.sample_latent else ent.new_zeros(())
    if reg is not None:
        terms["fusion"] = (reg * v_rec).sum() / n_rec
    rec = sum(v for n, v in terms.items() if n.startswith("rec."))
    gen = sum(v for n, v in terms.items() if n.startswith("obs."))
    sign = 1.0 if compat else -1.0
    total = (
        wt["rec_weight"] * rec
        + wt["obs_weight"] * gen
        + wt["lat_weight"] * terms["lat"]
        + sign * wt["entropy_weight"] * terms["entropy"]
    )
    if "fusion" in terms:
        total = total + wt["fusion_weight"] * terms["fusion"]
    return total, {n: v.detach() for n, v in terms.items()}


# ---------------------------------------------------------------------------- fixtures
def _batch(b=3, t=20, lengths=None):
    g = torch.Generator().manual_seed(0)
    data = {
        "gauss": torch.randn(b, t, 3, generator=g),
        "ord": torch.randint(1, 6, (b, t, 4), generator=g).float(),
        "counts": torch.poisson(torch.ones(b, t, 2), generator=g),
    }
    batch = MultimodalBatch.from_tensors(data, lengths=lengths)
    batch.mask["counts"][1, 3:7] = False  # a hole of single entries
    return batch


def _model(kind, sample_latent, k=3, m=5):
    liks = {"gauss": Gaussian(3), "ord": Ordinal(4, 5), "counts": Poisson(2)}
    dyn = ClippedDendPLRNN(m, num_bases=2)
    if kind == "joint":
        return MTF(liks, dyn, k, tau=4, sample_latent=sample_latent)
    encs = {
        mod: TemporalConvEncoder(lik.num_features, k, kernel_sizes=(3,))
        for mod, lik in liks.items()
    }
    return MTF(liks, dyn, k, tau=4, encoders=encs, fusion=MMVM(), sample_latent=sample_latent)


def _compare(model, batch, objective, *, compat=False, input_noise=0.01, weights=None, **sched):
    model.elbo = objective
    torch.manual_seed(11)
    old, _ = legacy_loss(
        model, batch, input_noise=input_noise, compat=compat, weights=weights, **sched
    )
    torch.manual_seed(11)
    new, terms = model.loss(batch, **sched)
    torch.testing.assert_close(new.detach(), old.detach(), rtol=1e-5, atol=1e-6)
    assert sum(float(v) for v in terms.values()) == pytest.approx(float(new.detach()), rel=1e-5)
    return float(old.detach()), float(new.detach()), terms


# ---------------------------------------------------------------------------- parity
@pytest.mark.parametrize("kind", ["joint", "mmvm"])
@pytest.mark.parametrize("sample_latent", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_loss_equals_the_legacy_objective(kind, sample_latent, training):
    model = _model(kind, sample_latent).train(training)
    _compare(model, _batch(), MTFObjective())


@pytest.mark.parametrize("kind", ["joint", "mmvm"])
def test_loss_equals_the_legacy_objective_with_weights_padding_and_k_equal_m(kind):
    weights = {"rec_weight": 0.5, "obs_weight": 2.0, "lat_weight": 0.3, "entropy_weight": 0.7}
    weights["fusion_weight"] = 1.5
    batch = _batch(lengths=torch.tensor([20, 13, 17]))
    model = _model(kind, True, k=4, m=4)
    _compare(
        model, batch, MTFObjective(**weights, input_noise=0.05), input_noise=0.05, weights=weights
    )
    # scheduled values override the options; generalized forcing and the fusion's alpha too
    sched = {"rec_weight": 0.0, "entropy_weight": 0.0, "alpha": 0.4}
    if kind == "mmvm":
        sched["fusion_alpha"] = 0.5
    _compare(model, batch, MTFObjective(**weights), weights=weights, **sched)


def test_terms_map_onto_the_legacy_terms():
    model = _model("mmvm", True)
    batch = _batch()
    torch.manual_seed(3)
    _, old = legacy_loss(model, batch)
    torch.manual_seed(3)
    _, new = model.loss(batch)
    assert set(new) == {
        "nll.gauss", "nll.ord", "nll.counts", "obs.gauss", "obs.ord", "obs.counts", "lat",
        "kl.latent", "fusion",
    }  # fmt: skip
    for mod in ("gauss", "ord", "counts"):
        torch.testing.assert_close(new[f"nll.{mod}"], old[f"rec.{mod}"], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(new[f"obs.{mod}"], old[f"obs.{mod}"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(new["lat"], old["lat"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(new["kl.latent"], -old["entropy"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(new["fusion"], old["fusion"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["joint", "mmvm"])
@pytest.mark.parametrize("sample_latent", [True, False])
def test_reference_objective_equals_the_legacy_reference_compat_loss(kind, sample_latent):
    model = _model(kind, sample_latent)
    _, _, terms = _compare(model, _batch(), MTFReferenceObjective(), compat=True)
    assert terms["kl.latent"] != 0 or not sample_latent
    model.eval()
    _compare(model, _batch(), MTFReferenceObjective(), compat=True)


def test_reference_objective_trains_with_svi_and_the_elbo_module():
    import pyro

    model = _model("joint", True)
    batch = _batch()
    model.elbo = MTFReferenceObjective()
    svi = pyro.infer.SVI(model.model, model.guide, pyro.optim.Adam({"lr": 1e-2}), model.elbo)
    before = [p.detach().clone() for p in model.parameters()]
    svi.step(batch)
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
    pyro.clear_param_store()
    module = model.elbo(model.model, model.guide)
    assert torch.isfinite(module(batch))
    with pytest.raises(TypeError, match=r"pass model\.model of an MTF"):
        MTFReferenceObjective().loss_and_terms(lambda b: None, None, batch)


# ---------------------------------------------------------------------------- the options
def test_objective_options_are_validated():
    obj = MTFObjective(rec_weight=2.0, options={"lat_weight": 0.5})
    assert obj.options["rec_weight"] == 2.0 and obj.options["lat_weight"] == 0.5
    assert obj.options["input_noise"] == 0.01
    with pytest.raises(ValueError, match="option obs_weight must be >= 0, got -1"):
        MTFObjective(obs_weight=-1.0)
    with pytest.raises(TypeError, match=r"unknown options \['rec_wieght'\]; valid options are"):
        MTFObjective(rec_wieght=1.0)
    with pytest.raises(TypeError, match=r"unknown options \['beta'\]"):
        MTFObjective(options={"beta": 1.0})
    assert MTFObjective(num_particles=2).num_particles == 2
    model = _model("joint", True)
    with pytest.raises(ValueError, match=r"scheduled lat_weight must be >= 0, got -0\.5"):
        model.loss(_batch(), lat_weight=-0.5)
    with pytest.raises(TypeError, match=r"unknown scheduled values \['beta'\]"):
        model.loss(_batch(), beta=1.0)


def test_legacy_model_keys_map_to_the_objective_spec():
    assert MTFObjective.legacy_model_keys == {
        "rec_weight", "obs_weight", "lat_weight", "entropy_weight", "fusion_weight",
        "input_noise", "reference_compat",
    }  # fmt: skip
    assert MTFObjective.legacy_spec({"input_noise": 0.02, "reference_compat": False}) == {
        "type": "MTFObjective",
        "input_noise": 0.02,
    }
    spec = MTFObjective.legacy_spec({"reference_compat": True, "lat_weight": 2.0})
    assert spec == {"type": "MTFReferenceObjective", "lat_weight": 2.0}
    assert MTF.default_objective is MTFObjective
    assert isinstance(_model("joint", True).elbo, MTFObjective)


def test_input_noise_is_shared_by_model_and_guide_and_only_in_training():
    model = _model("mmvm", True)
    batch = _batch()
    model.elbo = MTFObjective(input_noise=0.5)
    torch.manual_seed(0)
    a, _ = model.loss(batch)
    model.elbo = MTFObjective(input_noise=0.0)
    torch.manual_seed(0)
    b, _ = model.loss(batch)
    assert not torch.allclose(a, b)  # the noise reaches the encoders
    model.eval()
    for noise in (0.5, 0.0):
        model.elbo = MTFObjective(input_noise=noise)
        torch.manual_seed(0)
        out = model.loss(batch)[0]
        if noise:
            first = out
    torch.testing.assert_close(first, out)  # eval mode: no noise
    # encode never adds noise
    model.train()
    torch.testing.assert_close(model.encode(batch)["latent"], model.encode(batch)["latent"])
