"""LaDID's loss is the one ``LaDID.loss`` computed before the recipe moved into its objective.

``old_loss`` below is the formula of the former hand-written ``LaDID.loss`` / ``_reference_loss``
(pyrodyn before the objective refactoring), written out on the model's sub-networks only: it
cuts the windows, draws the crops, frame subsets and the code noise in the same order from the
same seed, encodes, samples psi, decodes and sums the terms by hand. The new path is
``model.loss`` = ``model.elbo`` (a :class:`LaDIDObjective`) over the Pyro model/guide pair.
"""

import pyro
import pytest
import torch
import torch.distributions as tdist

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.dynamics.query import QueryDynamics
from pyrodyn.likelihoods import Gaussian
from pyrodyn.models.ladid import LaDID, LaDIDObjective, LaDIDReferenceObjective
from pyrodyn.models.ladid.windows import shooting_starts
from pyrodyn.nn.encoders.ct_transformer import ContinuousTimeTransformer

K, C = 4, 4


def old_windows(batch, horizon, wps, overlap, overlap_weight):
    """The former ``LaDID.shooting_batch``: window rows/steps and consecutive pairs."""
    usable = int(batch.valid_steps().sum(1).min())
    q = horizon
    starts = shooting_starts(usable, C, q, overlap)
    n, b = starts.numel(), batch.num_sequences
    k = min(wps, n)
    pairs = None
    if overlap > 0 and overlap_weight > 0 and n >= 2:
        k = max(k, 2)
        first = torch.randint(0, n - k + 1, (b,))
        choice = first[:, None] + torch.arange(k)
        base = torch.arange(b)[:, None] * k + torch.arange(k - 1)
        pairs = torch.stack([base.reshape(-1), base.reshape(-1) + 1], 1)
    elif k < n:
        choice = torch.rand(b, n).argsort(1)[:, :k].sort(1).values
    else:
        choice = torch.arange(n).expand(b, n)
    rows = torch.arange(b)[:, None].expand(b, k).reshape(-1)
    steps = starts[choice.reshape(-1)][:, None] + torch.arange(C + q + overlap)
    return rows, steps, pairs


def old_loss(
    model,
    batch,
    horizon,
    *,
    wps=2,
    ew=1.0,
    overlap=0,
    ow=0.0,
    oscale=0.1,
    score_context=True,
    crop=False,
    fpw=None,
    beta=1.0,
    reference=None,
):
    """The former ``LaDID.loss`` (``reference=(obs_scale, num_train)``: ``_reference_loss``)."""
    rows, steps, pairs = old_windows(batch, horizon, wps, overlap, ow)
    x = batch.obs["x"][rows[:, None], steps]
    mask = batch.mask["x"][rows[:, None], steps]
    t = batch.times[rows[:, None], steps]
    n, length = steps.shape
    start = torch.randint(0, length - C + 1, (n,)) if crop else None
    frames = None
    if fpw is not None and fpw < length:
        frames = torch.rand(n, length).argsort(1)[:, :fpw].sort(1).values
    # the guide: law of the mean of the context tokens (+ the state part of a split code)
    enc = model.encoders["x"]
    full = ew > 0
    if full:
        tok = enc(x, mask, t, context=C)
    elif start is not None:
        r, cidx = torch.arange(n)[:, None], start[:, None] + torch.arange(C)
        tok = enc(x[r, cidx], mask[r, cidx], t[r, cidx])
    else:
        tok = enc(x[:, :C], mask[:, :C], t[:, :C])
    loc, scale = tok.loc[:, :C].mean(1), tok.scale[:, :C].pow(2).sum(1).sqrt() / C
    if model.state_encoders is not None:
        s = model.state_encoders["x"](
            x[:, : model.state_frames], mask[:, : model.state_frames], t[:, : model.state_frames]
        )
        loc = torch.cat([loc, s.loc.mean(1)], -1)
        scale = torch.cat([scale, s.scale.pow(2).sum(1).sqrt() / model.state_frames], -1)
    q = tdist.Normal(loc, scale)
    psi = q.rsample()
    # the model: z = F(psi, t - t0), decoded, scored on the (subset of) scored steps
    offsets = t - t[:, :1]
    scored = torch.ones(n, length, dtype=torch.bool)
    if reference is not None or not score_context:
        scored[:, :C] = False
    norm = float(scored.sum())  # scored steps of the whole windows, frame subsets or not
    weight = 1.0
    xs, ms = x, mask
    if frames is not None:
        r = torch.arange(n)[:, None]
        offsets, scored, xs, ms = (
            offsets[r, frames],
            scored[r, frames],
            x[r, frames],
            mask[r, frames],
        )
        weight = length / frames.shape[1]
    z = model.dynamics.path(psi, offsets)
    params = model.decoders["x"](z)
    lik = model.likelihoods["x"]
    qmask = torch.ones(n, length, dtype=torch.bool)
    qmask[:, :C] = False
    emb = -(tok.log_prob(z).sum(-1) * qmask).sum() if full else 0.0
    ov = 0.0
    if pairs is not None:
        a = z[pairs[:, 0], C + horizon : C + horizon + overlap]
        b = z[pairs[:, 1], C : C + overlap]
        ov = -tdist.Normal(b, oscale).log_prob(a).sum()
    if reference is not None:
        obs_scale, num_train = reference
        lp = tdist.Normal(lik.mean(params), obs_scale).log_prob(x)
        recon = -(lp * (mask & qmask[..., None])).sum()
        prior = -tdist.Normal(0.0, 1.0).log_prob(psi).sum()
        return num_train / batch.num_sequences * (recon + ew * (emb + prior) + ov)
    nll = -weight * lik.log_prob(params, xs, ms & scored[..., None]).sum()
    kl = (q.log_prob(psi) - tdist.Normal(0.0, 1.0).log_prob(psi)).sum()
    return (nll + beta * kl + ew * emb + ow * ov) / norm


def make_model(split=False):
    liks = {"x": Gaussian(5)}
    k_c = K - 2 if split else K
    encs = {"x": ContinuousTimeTransformer(5, k_c, model_dim=16, num_layers=2, window=0.3)}
    states = None
    if split:
        states = {"x": ContinuousTimeTransformer(5, 2, model_dim=8, num_layers=1, window=0.3)}
    dyn = QueryDynamics(K, K, max_period=4.0, hidden=(16,), dropout=0.0)
    return LaDID(liks, encs, dyn, context=C, state_encoders=states, state_frames=2)


CASES = {
    "default, embedding on": ({}, {}, {}),
    "beta 3, query frames only": ({}, {"score_context": False}, {"beta": 3.0}),
    "split code, constants crop, frames per window": (
        {"split": True},
        {
            "embedding_weight": 0.0,
            "constants_crop": True,
            "frames_per_window": 3,
            "windows_per_sequence": 3,
        },
        {},
    ),
    "overlap regulariser": ({}, {"overlap": 1, "overlap_weight": 0.5, "overlap_scale": 0.2}, {}),
}


def _old_kwargs(recipe):
    names = {
        "windows_per_sequence": "wps",
        "embedding_weight": "ew",
        "overlap_weight": "ow",
        "overlap_scale": "oscale",
        "constants_crop": "crop",
        "frames_per_window": "fpw",
    }
    return {names.get(k, k): v for k, v in recipe.items()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_loss_equals_the_former_hand_written_loss(case):
    build, recipe, scheduled = CASES[case]
    torch.manual_seed(0)
    model = make_model(**build)
    model.elbo = LaDIDObjective(**recipe)
    batch = MultimodalBatch.from_tensors({"x": torch.randn(3, 14, 5)}, times=torch.arange(14) * 0.1)
    pyro.set_rng_seed(3)
    new, terms = model.loss(batch, horizon=3, **scheduled)
    pyro.set_rng_seed(3)
    old = old_loss(model, batch, 3, **_old_kwargs(recipe), **scheduled)
    torch.testing.assert_close(new.detach(), old.detach(), rtol=1e-5, atol=0.0)
    assert sum(terms.values()) == pytest.approx(float(new.detach()), rel=1e-5)
    # the gradients agree too (the loss is the same function of the parameters)
    g_new = torch.autograd.grad(new, list(model.parameters()), allow_unused=True)
    g_old = torch.autograd.grad(old, list(model.parameters()), allow_unused=True)
    for a, b in zip(g_new, g_old):
        if a is not None or b is not None:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_another_seed_gives_another_loss():
    """The comparison above can fail: other draws give another value."""
    torch.manual_seed(0)
    model = make_model()
    batch = MultimodalBatch.from_tensors({"x": torch.randn(3, 14, 5)}, times=torch.arange(14) * 0.1)
    pyro.set_rng_seed(3)
    new, _ = model.loss(batch, horizon=3)
    pyro.set_rng_seed(4)
    old = old_loss(model, batch, 3)
    assert abs(float(new.detach()) - float(old.detach())) > 1e-3 * abs(float(old.detach()))


def test_reference_objective_equals_the_former_reference_loss():
    torch.manual_seed(0)
    model = make_model()
    model.elbo = LaDIDReferenceObjective(num_train=30, embedding_weight=1.0)
    batch = MultimodalBatch.from_tensors({"x": torch.randn(3, 14, 5)}, times=torch.arange(14) * 0.1)
    pyro.set_rng_seed(3)
    new, terms = model.loss(batch, horizon=3)
    pyro.set_rng_seed(3)
    old = old_loss(model, batch, 3, reference=(1e-3, 30))
    torch.testing.assert_close(new.detach(), old.detach(), rtol=1e-5, atol=0.0)
    assert set(terms) == {"ref.recon", "ref.embedding", "ref.prior", "ref.overlap"}
