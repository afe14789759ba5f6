import pyro
import pyro.distributions as dist
import pytest
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.data.pendulum import pendulum_dataset
from pyrodyn.dynamics.base import LinearDynamics
from pyrodyn.dynamics.query import QueryDynamics
from pyrodyn.infer.schedules import horizon_curriculum
from pyrodyn.likelihoods import Gaussian
from pyrodyn.models.ladid import LaDID, LaDIDObjective, LaDIDReferenceObjective
from pyrodyn.models.ladid.windows import cut_windows
from pyrodyn.nn.encoders.ct_transformer import ContinuousTimeTransformer
from pyrodyn.nn.fusion import Mean
from pyrodyn.testing.model import check_model_guide, check_svi_step

K = 4


def make_model(shapes, *, context=4, fusion=None, dynamics=None, time_step=None, **recipe):
    """A small LaDID; ``recipe`` options (if any) go to its LaDIDObjective."""
    liks = {m: Gaussian(s) for m, s in shapes.items()}
    encs = {
        m: ContinuousTimeTransformer(s, K, model_dim=16, num_layers=2, window=0.3)
        for m, s in shapes.items()
    }
    if dynamics is None:
        dynamics = QueryDynamics(K, K, max_period=4.0, hidden=(16,), dropout=0.0)
    model = LaDID(liks, encs, dynamics, fusion=fusion, context=context, time_step=time_step)
    if recipe:
        model.elbo = LaDIDObjective(**recipe)
    return model


def vector_batch(b=3, t=12, n=5, dt=0.1):
    x = torch.randn(b, t, n)
    return MultimodalBatch.from_tensors({"x": x}, times=torch.arange(t) * dt)


def test_one_step_is_finite_and_terms_are_named():
    model = make_model({"x": 5}, overlap=1, overlap_weight=0.5)
    assert model.is_elbo is False
    batch = vector_batch(t=14)
    check_model_guide(model, cut_windows(batch, model.context, 3)[0])
    check_svi_step(model, batch, horizon=3)
    total, terms = model.loss(batch, horizon=3)
    assert set(terms) == {"nll.x", "kl.psi", "reg.embedding", "reg.overlap"}
    assert torch.isfinite(total)


def test_plain_elbo_without_regularisers():
    model = make_model({"x": 5}, embedding_weight=0.0)
    assert model.is_elbo is True
    batch = vector_batch()
    pyro.set_rng_seed(1)
    total, terms = model.loss(batch, horizon=4)
    torch.testing.assert_close(total.detach(), terms["nll.x"] + terms["kl.psi"])
    pyro.set_rng_seed(1)
    total3, terms3 = model.loss(batch, horizon=4, beta=3.0)
    # beta scales the psi site in model and guide: the kl term carries it
    torch.testing.assert_close(total3.detach(), terms3["nll.x"] + terms3["kl.psi"])
    torch.testing.assert_close(terms3["kl.psi"], 3 * terms["kl.psi"])


def test_two_modalities_vector_and_frames_with_a_missing_modality():
    ds = pendulum_dataset(num_trials=3, num_steps=12, dt=0.05, modalities=("video", "angle"))
    batch = ds.batch()
    batch = MultimodalBatch.from_tensors(
        {"video": batch.obs["video"][..., :16, :16], "angle": batch.obs["angle"]},
        times=batch.times,
    )
    for fusion in (None, Mean()):
        model = make_model({"video": (16, 16), "angle": 2}, fusion=fusion)
        total, terms = model.loss(
            batch.drop("angle", rows=torch.tensor([True, False, False])), horizon=4
        )
        assert torch.isfinite(total)
        assert {"nll.video", "nll.angle", "kl.psi"} <= set(terms)
    out = model.forecast(batch)
    assert out["video"].shape == (3, 12, 16, 16) and out["angle"].shape == (3, 12, 2)
    # a modality that is only decoded (no encoder)
    liks = {"video": Gaussian((16, 16)), "angle": Gaussian(2)}
    enc = {"angle": ContinuousTimeTransformer(2, K, model_dim=8, num_layers=1)}
    dyn = QueryDynamics(K, K, max_period=4.0, hidden=(8,), dropout=0.0)
    only = LaDID(liks, enc, dyn, context=4)
    assert torch.isfinite(only.loss(batch, horizon=4)[0])


def test_per_modality_latents_with_mmvm():
    from pyrodyn.nn.fusion.mmvm import MMVM

    model = make_model({"x": 5, "y": 3}, fusion=MMVM(alpha=0.5), embedding_weight=1.0)
    batch = MultimodalBatch.from_tensors(
        {"x": torch.randn(2, 10, 5), "y": torch.randn(2, 10, 3)}, times=torch.arange(10) * 0.1
    )
    total, terms = model.loss(batch, horizon=3)
    assert torch.isfinite(total)
    assert {"kl.psi_x", "kl.psi_y"} <= set(terms)


def make_split_model(shapes, *, k_s=2, state_frames=2, **recipe):
    liks = {m: Gaussian(s) for m, s in shapes.items()}
    encs = {
        m: ContinuousTimeTransformer(s, K - k_s, model_dim=16, num_layers=1, window=0.3)
        for m, s in shapes.items()
    }
    states = {
        m: ContinuousTimeTransformer(s, k_s, model_dim=8, num_layers=1, window=0.3)
        for m, s in shapes.items()
    }
    dyn = QueryDynamics(K, K, max_period=4.0, hidden=(16,), dropout=0.0)
    model = LaDID(liks, encs, dyn, context=4, state_encoders=states, state_frames=state_frames)
    if recipe:
        model.elbo = LaDIDObjective(**{"embedding_weight": 0.0, **recipe})
    return model


def test_split_code_concatenates_constants_and_state_posteriors():
    torch.manual_seed(0)
    model = make_split_model({"x": 5})
    assert (model.constants_dim, model.state_dim) == (2, 2)
    batch = vector_batch(t=12)
    q = model.code_posterior(batch)
    assert q.loc.shape == (3, K)
    parts = model.code_parts(q.loc)
    # constants part: the law of the mean over the context tokens of the constants encoder
    tok = model.encoders["x"](batch.obs["x"][:, :4], batch.mask["x"][:, :4], batch.times[:, :4])
    torch.testing.assert_close(parts["constants"], tok.loc.mean(1))
    torch.testing.assert_close(q.scale[:, :2], tok.scale.pow(2).sum(1).sqrt() / 4)
    # state part: only the first state_frames frames matter
    later = batch.obs["x"].clone()
    later[:, 2:] = torch.randn_like(later[:, 2:])
    st = model.state_encoders["x"](later[:, :2], batch.mask["x"][:, :2], batch.times[:, :2])
    torch.testing.assert_close(parts["state"], st.loc.mean(1))
    other = MultimodalBatch.from_tensors({"x": later}, times=batch.times[0])
    torch.testing.assert_close(
        model.code_parts(model.code_posterior(other).loc)["state"], parts["state"]
    )
    # one SVI step and the guide/model agree on the site
    check_model_guide(model, cut_windows(batch, model.context, 3)[0])
    check_svi_step(model, batch, horizon=3)


def test_constants_crop_reads_a_random_stretch_in_training_only():
    torch.manual_seed(0)
    model = make_split_model({"x": 5}, constants_crop=True)
    batch = vector_batch(t=12)
    start = torch.tensor([0, 3, 8])
    tr = pyro.poutine.trace(model.guide).get_trace(batch, constants_start=start)
    out = tr.nodes["_RETURN"]["value"]["posteriors"]["x"]
    for row, k in enumerate(start.tolist()):
        sl = slice(k, k + 4)
        tok = model.encoders["x"](
            batch.obs["x"][row : row + 1, sl],
            batch.mask["x"][row : row + 1, sl],
            batch.times[row : row + 1, sl],
        )
        torch.testing.assert_close(out.loc[row, :2], tok.loc[0].mean(0))
    # the state part still comes from the window's first frames
    ref = model.code_posterior(batch)
    torch.testing.assert_close(out.loc[:, 2:], ref.loc[:, 2:])
    # loss draws the crops itself; forecasts read the context
    total, _ = model.loss(batch, horizon=3)
    assert torch.isfinite(total)
    check_svi_step(model, batch, horizon=3)
    with pytest.raises(ValueError, match="constants_crop needs state_encoders"):
        make_model({"x": 5}, constants_crop=True)


def test_frames_per_window_is_an_unbiased_estimate_of_the_window_likelihood():
    import itertools

    torch.manual_seed(0)
    model = make_model({"x": 5}, context=3, embedding_weight=0.0, frames_per_window=2)
    batch = vector_batch(b=2, t=6)
    guide_tr = pyro.poutine.trace(model.guide).get_trace(batch)

    def observed(frames):
        tr = pyro.poutine.trace(pyro.poutine.replay(model.model, trace=guide_tr)).get_trace(
            batch, frames=frames
        )
        tr.compute_log_prob()
        return sum(n["log_prob_sum"] for n in tr.nodes.values() if n.get("is_observed"))

    full = observed(None)
    subsets = list(itertools.combinations(range(6), 2))
    # every 2-subset once: each step is drawn in 2/6 of them and weighted by 6/2
    mean = sum(observed(torch.tensor([c, c])) for c in subsets) / len(subsets)
    torch.testing.assert_close(mean, full, rtol=1e-5, atol=1e-4)
    out = pyro.poutine.replay(model.model, trace=guide_tr)(batch, frames=torch.tensor([[0, 4]] * 2))
    assert out["params"]["x"]["loc"].shape == (2, 2, 5)
    total, _ = model.loss(batch, horizon=3)
    assert torch.isfinite(total)
    with pytest.raises(ValueError, match=r"reg\.embedding and reg\.overlap need them all"):
        LaDIDObjective(embedding_weight=1.0, frames_per_window=2)
    with pytest.raises(ValueError, match="frames_per_window must be >= 1, got 0"):
        LaDIDObjective(embedding_weight=0.0, frames_per_window=0)


def test_split_code_with_two_modalities_and_a_missing_one():
    ds = pendulum_dataset(num_trials=3, num_steps=12, dt=0.05, modalities=("video", "angle"))
    b = ds.batch()
    batch = MultimodalBatch.from_tensors(
        {"video": b.obs["video"][..., :16, :16], "angle": b.obs["angle"]}, times=b.times
    )
    model = make_split_model({"video": (16, 16), "angle": 2})
    total, terms = model.loss(
        batch.drop("angle", rows=torch.tensor([True, False, False])), horizon=4
    )
    assert torch.isfinite(total) and {"nll.video", "nll.angle", "kl.psi"} <= set(terms)


def test_split_code_bad_arguments():
    with pytest.raises(ValueError, match="use embedding_weight=0 with state_encoders"):
        make_split_model({"x": 5}, embedding_weight=1.0)
    with pytest.raises(ValueError, match=r"state_frames must lie in \[1, context = 4\], got 5"):
        make_split_model({"x": 5}, state_frames=5)
    liks = {"x": Gaussian(5)}
    encs = {"x": ContinuousTimeTransformer(5, 2, model_dim=8, num_layers=1)}
    dyn = QueryDynamics(K, K, max_period=4.0, hidden=(8,), dropout=0.0)
    whole = {"x": ContinuousTimeTransformer(5, K, model_dim=8, num_layers=1)}
    with pytest.raises(ValueError, match="must be smaller than the code"):
        LaDID(liks, encs, dyn, context=4, state_encoders=whole)
    bad = {"y": ContinuousTimeTransformer(5, 2, model_dim=8, num_layers=1)}
    with pytest.raises(ValueError, match=r"cover exactly the encoded modalities \['x'\]"):
        LaDID(liks, encs, dyn, context=4, state_encoders=bad)
    wrong = {"x": ContinuousTimeTransformer(5, 1, model_dim=8, num_layers=1)}
    with pytest.raises(ValueError, match="constants part of the code has size 3"):
        LaDID(liks, encs, dyn, context=4, state_encoders=wrong)
    model = make_split_model({"x": 5})
    with pytest.raises(ValueError, match=r"expected codes \(\.\.\., 4\)"):
        model.code_parts(torch.zeros(2, 3))


def test_step_dynamics_serve_the_same_path_interface():
    dyn = LinearDynamics(K, init_scale=0.9)
    model = make_model({"x": 5}, dynamics=dyn, time_step=0.1)
    batch = vector_batch()
    total, _ = model.loss(batch, horizon=4)
    assert torch.isfinite(total)
    enc = model.encode(batch)
    # path of a step model: the state at offset k is A^k z0
    z0 = enc["code"]
    torch.testing.assert_close(enc["latent"][:, 0], z0)
    torch.testing.assert_close(enc["latent"][:, 2], dyn.step(dyn.step(z0)))
    with pytest.raises(ValueError, match="needs time_step"):
        make_model({"x": 5}, dynamics=LinearDynamics(K))
    off = MultimodalBatch.from_tensors(
        {"x": torch.randn(2, 8, 5)}, times=torch.arange(8) * 0.1 + torch.tensor([0, 0.05]).repeat(4)
    )
    with pytest.raises(ValueError, match="grid of time_step"):
        model.encode(off)


def test_encode_forecast_generate():
    model = make_model({"x": 5}).eval()
    batch = vector_batch(t=12)
    enc = model.encode(batch)
    assert enc["latent"].shape == (3, 12, K) and enc["code"].shape == (3, K)
    off = model.forecast(batch, torch.tensor([0.05, 0.55, 1.05]))
    assert off["x"].shape == (3, 3, 5)
    gen = model.generate(5, init=batch)
    assert gen["x"].shape == (3, 5, 5) and gen["latent"].shape == (3, 5, K)
    with pytest.raises(ValueError, match="wraps around"):
        model.forecast(batch, torch.tensor([0.5, 4.5]))


def test_generation_limit_is_the_time_encoding_period():
    model = make_model({"x": 5}).eval()  # max_period 4.0, context 4, dt 0.1: head 0.3
    batch = vector_batch(t=12)
    limit = model.generation_limit(batch)
    assert limit == 36  # 0.3 + 36 * 0.1 < 4.0 <= 0.3 + 37 * 0.1
    assert model.generate(limit, init=batch)["x"].shape == (3, limit, 5)
    assert model.generate(limit - 5, init=batch, burn_in=5)["x"].shape == (3, limit - 5, 5)
    with pytest.raises(ValueError, match="wraps around"):
        model.generate(limit + 1, init=batch)
    with pytest.raises(TypeError, match="not a number of steps"):
        model.forecast(batch, 5)
    plrnn = make_model({"x": 5}, dynamics=LinearDynamics(K), time_step=0.1, embedding_weight=0.0)
    assert plrnn.generation_limit(batch) is None


def test_fit_and_evaluate_a_ladid_run_end_to_end(tmp_path):
    """``pyrodyn fit`` + ``pyrodyn evaluate`` on the shipped config: generation stays inside
    the time encoding's period, the context-forecast metrics are computed, ``pe`` is skipped."""
    from pathlib import Path

    import numpy as np

    from pyrodyn.app.cli import main
    from pyrodyn.data.pendulum import pendulum_arrays

    config = Path(__file__).resolve().parents[2] / "configs" / "ladid_pendulum.yaml"
    data = tmp_path / "p.npz"
    np.savez(data, **pendulum_arrays(12, 60, seed=0))
    run = tmp_path / "run"
    sets = ["data.path=" + str(data), "fit.steps=3", "fit.valid_every=3", "fit.batch_size=4"]
    sets += ["fit.checkpoint_every=3", "evaluate.metrics=[forecast_nmse,code_probe_r2,d_stsp,pe]"]
    args = ["fit", str(config), "--out", str(run)]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 0
    assert main(["evaluate", str(run), "--data", str(data)]) == 0
    import json

    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["forecast_nmse"]) >= {"nmse", "baseline_constant"}
    assert np.isfinite(metrics["forecast_nmse"]["nmse"])
    assert set(metrics["code_probe_r2"]) >= {"true_gl", "raw.true_gl", "knn.true_gl"}
    assert np.isfinite(metrics["d_stsp"])
    gen = metrics["evaluation"]["generated"]
    # 0.45 s of context + 110 * 0.05 s < the 6 s period; 12 * 60 steps from ceil(720 / 110) windows
    assert gen["steps"] == 110 and gen["trials"] == 7
    assert gen["limited"]["requested_steps"] == 12 * 60
    assert (
        metrics["pe"] is None
        and "forecast_nmse" in metrics["evaluation"]["metrics"]["pe"]["skipped"]
    )


def test_bad_inputs_are_loud():
    model = make_model({"x": 5}, context=6)
    with pytest.raises(ValueError, match="context of 6 frames is not shorter than the trajectory"):
        model.loss(vector_batch(t=6), horizon=1)
    with pytest.raises(ValueError, match="does not fit"):
        model.loss(vector_batch(t=10), horizon=8)
    x = torch.randn(1, 10, 5)
    dup = MultimodalBatch.from_tensors(
        {"x": x}, times=torch.tensor([0, 1, 1, 2, 3, 4, 5, 6, 7, 8.0])
    )
    with pytest.raises(ValueError, match="duplicate time stamps"):
        model.loss(dup, horizon=2)
    uns = MultimodalBatch.from_tensors(
        {"x": x}, times=torch.tensor([0, 2, 1, 3, 4, 5, 6, 7, 8, 9.0])
    )
    with pytest.raises(ValueError, match="unsorted time stamps"):
        model.loss(uns, horizon=2)
    with pytest.raises(ValueError, match="longer than the trajectory"):
        model.forecast(vector_batch(t=4))
    with pytest.raises(ValueError, match="the dynamics' code has size 4"):
        LaDID(
            {"x": Gaussian(5)},
            {"x": ContinuousTimeTransformer(5, 3, model_dim=8, num_layers=1)},
            QueryDynamics(K, K, max_period=1.0),
        )


def test_reference_compat_loss_equals_a_hand_computation():
    torch.manual_seed(0)
    model = make_model({"x": 5}).eval()
    model.elbo = LaDIDReferenceObjective(num_train=30, embedding_weight=1.0)
    batch = vector_batch(b=2, t=10)
    assert model.is_elbo is False
    pyro.set_rng_seed(3)
    total, terms = model.loss(batch)  # horizon None: one window per sequence
    # by hand with the same noise
    pyro.set_rng_seed(3)
    enc = model.encoders["x"]
    tok = enc(batch.obs["x"], batch.mask["x"], batch.times, context=4)
    loc = tok.loc[:, :4].mean(1)
    scale = (tok.scale[:, :4] ** 2).sum(1).sqrt() / 4
    psi = dist.Normal(loc, scale).rsample()
    z = model.dynamics.path(psi, batch.times - batch.times[:, :1])
    mean = model.decoders["x"](z)["loc"]
    recon = -dist.Normal(mean, 1e-3).log_prob(batch.obs["x"])[:, 4:].sum()
    emb = -tok.log_prob(z)[:, 4:].sum()
    prior = -dist.Normal(0.0, 1.0).log_prob(psi).sum()
    expected = 30 / 2 * (recon + emb + prior)
    torch.testing.assert_close(total.detach(), expected.detach(), rtol=1e-5, atol=1e-3)
    # the terms carry the N_train / B factor and lambda, and sum to the loss
    torch.testing.assert_close(terms["ref.recon"], 15 * recon.detach(), rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(terms["ref.prior"], 15 * prior.detach(), rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(sum(terms.values()), total.detach(), rtol=1e-6, atol=1e-3)


@pytest.mark.slow
def test_learns_the_vector_pendulum_well_beyond_a_constant_predictor():
    from pyrodyn.infer.fit import fit
    from pyrodyn.metrics.forecast import forecast_nmse_curve

    torch.manual_seed(0)
    train = pendulum_dataset(num_trials=128, num_steps=30, dt=0.05, obs_dim=8, seed=0)
    test = pendulum_dataset(num_trials=32, num_steps=30, dt=0.05, obs_dim=8, seed=1)
    liks = {"x": Gaussian(8, scale=0.1)}
    encs = {"x": ContinuousTimeTransformer(8, 8, model_dim=32, num_layers=2, window=0.25)}
    dyn = QueryDynamics(8, 8, max_period=3.0, hidden=(64, 64), dropout=0.0)
    model = LaDID(liks, encs, dyn, context=10)
    steps = 600
    fit(
        model,
        train,
        steps=steps,
        lr=3e-3,
        batch_size=16,
        window=30,
        schedules={"horizon": horizon_curriculum(steps, (2, 5, 10, 20), 0.5)},
        progress=False,
    )
    model.eval()
    res = forecast_nmse_curve(model, test, context=10, horizon=20)
    assert res["nmse"] < 0.5 * res["baseline_constant"]
    assert res["nmse"] < 0.35
