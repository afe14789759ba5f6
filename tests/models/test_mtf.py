import math

import numpy as np
import pytest
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.dynamics import PLRNN, ClippedDendPLRNN
from pyrodyn.likelihoods import Categorical, Gaussian, Ordinal, Poisson
from pyrodyn.models.mtf import MTF, MTFObjective, MTFReferenceObjective
from pyrodyn.nn.encoders.temporal_conv import TemporalConvEncoder
from pyrodyn.nn.fusion import Mean
from pyrodyn.testing.model import check_model_guide, check_svi_step


def make_batch(b=3, t=24, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    data = {
        "gauss": torch.randn(b, t, 3, generator=g),
        "ord": torch.randint(1, 6, (b, t, 4), generator=g).float(),
        "counts": torch.poisson(torch.ones(b, t, 2)),
    }
    return MultimodalBatch.from_tensors(data).to(device)


def make_model(k=4, m=4, per_modality=False, objective=None, **kw):
    liks = {"gauss": Gaussian(3), "ord": Ordinal(4, 5), "counts": Poisson(2)}
    enc = None
    if per_modality:
        enc = {
            "gauss": TemporalConvEncoder(3, k, kernel_sizes=(3,)),
            "ord": TemporalConvEncoder(4, k, kernel_sizes=(3,)),
            "counts": TemporalConvEncoder(2, k, kernel_sizes=(3,)),
        }
        model = MTF(liks, ClippedDendPLRNN(m, num_bases=2), k, tau=5, encoders=enc, **kw)
    else:
        model = MTF(liks, ClippedDendPLRNN(m, num_bases=2), k, tau=5, **kw)
    if objective is not None:
        model.elbo = objective
    return model


@pytest.mark.parametrize(("k", "m"), [(4, 4), (3, 5)])
def test_loss_finite_with_named_terms(k, m, device):
    model = make_model(k, m).to(device)
    total, terms = model.loss(make_batch(device=device))
    assert torch.isfinite(total)
    assert set(terms) == {
        "nll.gauss",
        "nll.ord",
        "nll.counts",
        "obs.gauss",
        "obs.ord",
        "obs.counts",
        "lat",
        "kl.latent",
    }
    assert sum(terms.values()).item() == pytest.approx(total.item(), rel=1e-5)
    assert not MTF.is_elbo
    total.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_latent_term_is_minus_the_entropy_and_plus_log_scale_in_the_reference(device):
    batch = make_batch(device=device)
    model = make_model().to(device).eval()
    q = model.posterior(batch)
    _, terms = model.loss(batch)
    torch.testing.assert_close(terms["kl.latent"], -q.entropy().sum(-1).mean().detach())
    model.elbo = MTFReferenceObjective()
    _, terms = model.loss(batch)
    torch.testing.assert_close(terms["kl.latent"], q.scale.log().sum(-1).mean().detach())


def test_terms_are_averages_per_step(device):
    model = make_model(objective=MTFObjective(lat_weight=0.0)).to(device).eval()
    batch = make_batch(device=device)
    doubled = MultimodalBatch.from_tensors(
        {m: torch.cat([x, x], 0) for m, x in batch.obs.items()}
    ).to(device)
    model.sample_latent = False
    _, a = model.loss(batch)
    _, b = model.loss(doubled)
    torch.testing.assert_close(a["obs.gauss"], b["obs.gauss"])
    torch.testing.assert_close(a["nll.ord"], b["nll.ord"])


def test_reference_compat_gaussian_is_half_sse_of_first_sequence(device):
    model = make_model(sample_latent=False, objective=MTFReferenceObjective()).to(device).eval()
    batch = make_batch(device=device)
    _, terms = model.loss(batch)
    z = model.posterior(batch).loc
    loc = model.decode(z)["gauss"]["loc"]
    sse = 0.5 * (loc - batch.obs["gauss"])[0].square().sum()
    torch.testing.assert_close(terms["nll.gauss"], sse.detach())


@pytest.mark.parametrize("per_modality", [False, True])
def test_missing_modality_gives_finite_loss(per_modality, device):
    model = make_model(per_modality=per_modality).to(device)
    batch = make_batch(b=4, device=device)
    rows = torch.tensor([True, False, True, False])
    batch = batch.drop("ord", rows).drop("gauss", torch.tensor([False, True, False, False]))
    # a hole of single entries too
    batch.mask["counts"][2, 3:7] = False
    total, terms = model.loss(batch)
    assert torch.isfinite(total)
    assert all(torch.isfinite(v) for v in terms.values())


def test_missing_modality_uses_fusion_of_available(device):
    model = make_model(per_modality=True, fusion=Mean()).to(device).eval()
    batch = make_batch(b=2, device=device)
    only_gauss = batch.drop("ord").drop("counts")
    q = model.posterior(only_gauss)
    expected = model.encoders["gauss"](batch.obs["gauss"], batch.mask["gauss"])
    torch.testing.assert_close(q.loc, expected.loc)


def test_all_modalities_missing_raises(device):
    model = make_model().to(device)
    batch = make_batch(b=3, device=device)
    row = torch.tensor([False, True, False])
    for m in ("gauss", "ord", "counts"):
        batch = batch.drop(m, row)
    with pytest.raises(ValueError, match=r"every modality is missing in sequences \[1\]"):
        model.loss(batch)


def test_bad_inputs_raise(device):
    with pytest.raises(ValueError, match="forcing_dim K=6 must lie in"):
        make_model(k=6, m=4)
    with pytest.raises(ValueError, match="tau must be >= 1"):
        MTF({"g": Gaussian(3)}, PLRNN(3), tau=0)
    model = make_model().to(device)
    batch = make_batch(t=4, device=device)
    with pytest.raises(ValueError, match="larger than the window of 4"):
        model.loss(batch)
    extra = MultimodalBatch.from_tensors({**make_batch().obs, "video": torch.zeros(3, 24, 2)}).to(
        device
    )
    with pytest.raises(ValueError, match=r"\['video'\] have no likelihood"):
        model.loss(extra)
    with pytest.raises(ValueError, match="lacks modalities"):
        model.loss(make_batch(device=device).select(["gauss", "ord"]))
    with pytest.raises(TypeError, match="unknown scheduled values"):
        model.loss(make_batch(device=device), beta=1.0)
    with pytest.raises(ValueError, match="encoders must name exactly"):
        MTF(
            {"g": Gaussian(3)},
            PLRNN(3),
            encoders={"h": TemporalConvEncoder(3, 3)},
        )


def test_scheduled_weights_and_gtf_alpha(device):
    model = make_model().to(device).eval()
    batch = make_batch(device=device)
    torch.manual_seed(0)
    total, terms = model.loss(batch, rec_weight=0.0, obs_weight=0.0, entropy_weight=0.0)
    torch.testing.assert_close(total.detach(), terms["lat"])
    total, _ = model.loss(batch, alpha=0.3)
    assert torch.isfinite(total)


def test_generate_free_runs_from_encoder_state(device):
    model = make_model(3, 5).to(device)
    batch = make_batch(device=device)
    out = model.generate(50, init=batch, num_trials=4, burn_in=0)
    assert out["gauss"].shape == (4, 50, 3)
    assert out["ord"].shape == (4, 50, 4)
    assert out["counts"].shape == (4, 50, 2)
    assert out["latent"].shape == (4, 50, 5)
    loc = model.encode(batch)["latent"][:, 0]
    torch.testing.assert_close(out["latent"][:, 0, :3], loc[[0, 1, 2, 0]])
    # the trajectory is the model's own iteration
    torch.testing.assert_close(out["latent"][:, 1], model.dynamics.step(out["latent"][:, 0]))
    assert set(out["ord"].unique().tolist()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    burned = model.generate(10, init=batch, num_trials=1, burn_in=5)
    assert burned["gauss"].shape == (1, 10, 3)


def test_diverged_free_run_gives_non_finite_predictions_not_an_error(device):
    """A free run that blows up is a result (scored inf by FreeRunScore), not a crash."""
    from pyrodyn.data.dataset import MultimodalDataset
    from pyrodyn.infer.selection import FreeRunScore

    model = make_model(3, 3).to(device)
    with torch.no_grad():
        for p in model.dynamics.parameters():
            p.mul_(1e3)
    batch = make_batch(device=device)
    for kind in ("default", "mean", "mode"):
        out = model.generate(200, init=batch, num_trials=2, prediction=kind)
        assert not torch.isfinite(out["latent"]).all()
        assert not torch.isfinite(out["gauss"]).all() and not torch.isfinite(out["ord"]).all()
    data = MultimodalDataset({m: x.cpu().numpy() for m, x in batch.obs.items()})
    score = FreeRunScore(data, "gauss", steps=150, burn_in=10, window=10, trials=2)
    assert score(model.cpu()) == math.inf


def test_forecast_shapes_and_first_step(device):
    model = make_model().to(device)
    batch = make_batch(device=device)
    fc = model.forecast(batch, 3)
    assert fc["gauss"].shape == (3, 24, 3, 3)
    loc = model.encode(batch)["latent"]
    one = model.predict(model.dynamics.step(loc))["gauss"]
    torch.testing.assert_close(fc["gauss"][:, :, 0], one)


def test_model_guide_and_one_step(device):
    model = make_model().to(device)
    batch = make_batch(device=device)
    check_model_guide(model, batch)
    check_svi_step(model, batch)


def test_symbolic_only_categorical(device):
    labels = torch.randint(0, 8, (2, 30))
    onehot = torch.nn.functional.one_hot(labels, 8).float()
    batch = MultimodalBatch.from_tensors({"octant": onehot}).to(device)
    model = MTF(
        {"octant": Categorical(8, one_hot=True, reference_class=True)},
        ClippedDendPLRNN(6, num_bases=2),
        tau=5,
    ).to(device)
    total, _ = model.loss(batch)
    assert torch.isfinite(total)
    out = model.generate(7, init=batch)
    assert out["octant"].shape == (1, 7, 8)
    assert torch.all(out["octant"].sum(-1) == 1)


@pytest.mark.slow
def test_learns_short_lorenz63_reconstruction():
    # the shipped recipe's model (clipped shallow PLRNN, M = K = 10, H = 100) at the short-budget
    # settings (window 100, lr 6e-3, cosine): 3000 steps, about 60-100 s on one thread; D_stsp
    # 0.34 / 0.18 for torch seeds 0 / 1 against 1.82 for a Gaussian blob
    from pyrodyn.data.dataset import MultimodalDataset
    from pyrodyn.data.lorenz_multimodal import make_lorenz63_multimodal
    from pyrodyn.dynamics import ClippedShallowPLRNN
    from pyrodyn.metrics.state_space import d_stsp

    torch.manual_seed(0)
    data = make_lorenz63_multimodal(20000, noise=0.1, num_poisson=0, seed=1)
    ds = MultimodalDataset({"gaussian": data["gaussian"], "ordinal": data["ordinal"]})
    model = MTF(
        {"gaussian": Gaussian(3), "ordinal": Ordinal(8, 7)},
        ClippedShallowPLRNN(10, hidden_dim=100),
        tau=10,
    )
    lr, steps = 6e-3, 3000
    opt = torch.optim.RAdam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        total, _ = model.loss(ds.sample_batch(32, window=100, generator=g))
        opt.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
    x_true = data["true_state"][10000:]
    gen = model.generate(20000, init=ds.batch(start=torch.tensor([0]), window=100), burn_in=500)
    x_gen = gen["gaussian"][0].numpy()
    blob = np.random.default_rng(0).normal(size=x_gen.shape)
    score, blob_score = d_stsp(x_true, x_gen), d_stsp(x_true, blob)
    assert score < 0.5 * blob_score, (score, blob_score)


# ---------------------------------------------------------------------------- fusion coupling
def make_fused(fusion, *, shared_encoder=False, k=3, **kw):
    enc_a = TemporalConvEncoder(3, k, kernel_sizes=(3,))
    enc_b = enc_a if shared_encoder else TemporalConvEncoder(3, k, kernel_sizes=(3,))
    model = MTF(
        {"a": Gaussian(3), "b": Gaussian(3)},
        ClippedDendPLRNN(k, num_bases=2),
        k,
        tau=4,
        encoders={"a": enc_a, "b": enc_b},
        fusion=fusion,
        sample_latent=False,
        **kw,
    )
    model.elbo = MTFObjective(input_noise=0.0)
    return model


def fused_batch(b=3, t=12, same=False, device="cpu"):
    g = torch.Generator().manual_seed(3)
    a = torch.randn(b, t, 3, generator=g)
    other = a.clone() if same else torch.randn(b, t, 3, generator=g)
    return MultimodalBatch.from_tensors({"a": a, "b": other}).to(device)


def test_fusion_term_appears_with_mmvm_only(device):
    from pyrodyn.nn.fusion import MMVM, ProductOfExperts

    batch = fused_batch(device=device)
    total, terms = make_fused(MMVM()).to(device).loss(batch)
    assert "fusion" in terms and float(terms["fusion"]) > 0
    assert torch.isfinite(total)
    _, poe_terms = make_fused(ProductOfExperts()).to(device).loss(batch)
    assert "fusion" not in poe_terms
    _, joint_terms = make_model().to(device).loss(make_batch(device=device))
    assert "fusion" not in joint_terms


def test_fusion_term_is_step_average_of_regularizer(device):
    from pyrodyn.nn.fusion import MMVM

    model = make_fused(MMVM(estimator="lse")).to(device).eval()
    batch = fused_batch(device=device)
    _, terms = model.loss(batch)
    posts, present = model.unimodal_posteriors(batch)
    reg = model.fusion.regularizer(posts, present)
    assert reg.shape == (3, 12)
    torch.testing.assert_close(terms["fusion"], reg.mean().detach())


@pytest.mark.parametrize("estimator", ["pairwise", "lse"])
def test_fusion_term_zero_for_identical_posteriors(estimator, device):
    from pyrodyn.nn.fusion import MMVM

    model = make_fused(MMVM(estimator=estimator), shared_encoder=True).to(device)
    _, terms = model.loss(fused_batch(same=True, device=device))
    torch.testing.assert_close(terms["fusion"], torch.zeros((), device=device), atol=1e-6, rtol=0)


def test_fusion_weight_scales_the_term(device):
    from pyrodyn.nn.fusion import MMVM

    model = make_fused(MMVM()).to(device).eval()
    batch = fused_batch(device=device)
    _, terms = model.loss(batch)
    base, zero = model.loss(batch, fusion_weight=0.0)
    assert float(zero["fusion"]) == 0.0
    doubled, twice = model.loss(batch, fusion_weight=2.0)
    torch.testing.assert_close(doubled - base, 2.0 * terms["fusion"])
    torch.testing.assert_close(twice["fusion"], 2.0 * terms["fusion"])
    # the objective's option is the default of the scheduled weight
    heavy = make_fused(MMVM()).to(device).eval()
    heavy.elbo = MTFObjective(fusion_weight=2.0)
    heavy.load_state_dict(model.state_dict())
    torch.testing.assert_close(heavy.loss(batch)[0], doubled)
    # the fusion's own alpha is schedulable apart from the forcing alpha
    _, alpha_terms = model.loss(batch, fusion_alpha=0.5)
    assert not torch.allclose(alpha_terms["fusion"], terms["fusion"])


def test_fusion_term_respects_missing_modalities(device):
    from pyrodyn.nn.fusion import MMVM

    model = make_fused(MMVM()).to(device).eval()
    batch = fused_batch(b=3, t=12, device=device)
    # one modality left: the mixture is its own posterior, nothing to pull toward
    _, terms = model.loss(batch.drop("b"))
    torch.testing.assert_close(terms["fusion"], torch.zeros((), device=device))
    # without "b" in row 0 and in steps 2-5 of row 1, only steps with both modalities count
    holed = batch.drop("b", torch.tensor([True, False, False]))
    holed.mask["b"][1, 2:6] = False
    _, terms = model.loss(holed)
    _, complete = model.loss(batch)
    posts, present = model.unimodal_posteriors(holed)
    reg = model.fusion.regularizer(posts, present)
    both = torch.ones(3, 12, dtype=torch.bool, device=device)
    both[0], both[1, 2:6] = False, False
    assert bool((reg[~both] == 0).all()) and bool((reg[both] > 0).all())
    torch.testing.assert_close(terms["fusion"], reg.mean().detach())
    assert float(terms["fusion"]) < float(complete["fusion"])


def test_fusion_term_over_padded_steps_is_masked(device):
    from pyrodyn.nn.fusion import MMVM

    model = make_fused(MMVM()).to(device).eval()
    batch = fused_batch(device=device)
    padded = MultimodalBatch.from_tensors(batch.obs, lengths=torch.tensor([12, 8, 12])).to(device)
    _, terms = model.loss(padded)
    reg = model.fusion.regularizer(*model.unimodal_posteriors(padded))
    valid = padded.valid_steps()
    torch.testing.assert_close(terms["fusion"], (reg * valid).sum().detach() / valid.sum())


def test_fusion_coupling_one_step_and_fit(device):
    from pyrodyn.infer import fit
    from pyrodyn.nn.fusion import MMVM

    model = make_fused(MMVM()).to(device)
    batch = fused_batch(device=device)
    check_svi_step(model, batch)
    result = fit(
        make_fused(MMVM()),
        fused_batch(b=4),
        steps=2,
        batch_size=2,
        progress=False,
        device=device,
        schedules={"fusion_weight": lambda step: 0.5},
    )
    assert all(math.isfinite(r["fusion"]) for r in result.history if "fusion" in r)
    assert any("fusion" in r for r in result.history)


def test_negative_fusion_weight_raises(device):
    from pyrodyn.nn.fusion import MMVM

    with pytest.raises(ValueError, match="fusion_weight must be >= 0, got -1"):
        MTFObjective(fusion_weight=-1.0)
    model = make_fused(MMVM()).to(device)
    with pytest.raises(ValueError, match=r"scheduled fusion_weight must be >= 0, got -0.5"):
        model.loss(fused_batch(device=device), fusion_weight=-0.5)
    with pytest.raises(ValueError, match="alpha must lie in"):
        model.loss(fused_batch(device=device), fusion_alpha=1.5)
    with pytest.raises(ValueError, match="unimodal posteriors need `encoders`"):
        make_model().unimodal_posteriors(make_batch())
