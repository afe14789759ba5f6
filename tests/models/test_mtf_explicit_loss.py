"""MTF's named loss terms against the MTF objective computed by an explicit loop.

Deterministic setting: the encoder mean as teacher (``sample_latent=False``), no input noise. The
reference runs the sparsely forced rollout step by step with ``dynamics.step`` and scores every
step with scipy densities (spec mtf.md 1.5): for sequence b and step t,

* ``nll.<m>``: ``−log p_m(x_t | dec(z̃_t))`` averaged over the valid steps;
* ``obs.<m>``: ``−log p_m(x_t | dec(ẑ_t))`` for t >= 1, averaged over the valid steps after the
  first;
* ``lat``: ``−log N(z̃_t; ẑ_t, σ_z²)`` (summed over units) for t >= 1, same average;

where ``ẑ_t = F(z_{t−1}, s_{t−1})`` is the rollout's prediction of step t and
``z_{t−1} = z̃_{t−1}`` on the forcing steps ``t − 1 ≡ 0 (mod τ)``.
"""

import numpy as np
import pytest
import torch
from scipy.stats import norm, poisson

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.dynamics import ClippedShallowPLRNN
from pyrodyn.likelihoods import Gaussian, Poisson
from pyrodyn.models.mtf import MTF, MTFObjective


def _batch(lengths):
    g = torch.Generator().manual_seed(0)
    b, t = 3, 17
    data = {
        "gauss": torch.randn(b, t, 3, generator=g),
        "counts": torch.poisson(torch.full((b, t, 2), 1.5), generator=g),
    }
    inputs = torch.randn(b, t, 2, generator=g)
    return MultimodalBatch.from_tensors(data, lengths=lengths, inputs=inputs)


def _model(k, m, tau):
    torch.manual_seed(0)
    liks = {"gauss": Gaussian(3, scale=0.8), "counts": Poisson(2)}
    dyn = ClippedShallowPLRNN(m, hidden_dim=6, input_dim=2)
    model = MTF(liks, dyn, k, tau=tau, sample_latent=False, latent_scale=0.7)
    return model.eval()  # eval: no input noise on the encoder inputs


def _log_lik(model, z, x):
    """``{m: (B, T)}`` log densities of the observations under decoded latents ``(B, T, K)``."""
    params = model.decode(torch.as_tensor(z, dtype=torch.float32))
    loc = params["gauss"]["loc"].detach().double().numpy()
    scale = model.likelihoods["gauss"].scale.detach().double().numpy()
    rate = model.likelihoods["counts"].log_rate(params["counts"]).exp().detach().double().numpy()
    return {
        "gauss": norm.logpdf(x["gauss"], loc, scale).sum(-1),
        "counts": poisson.logpmf(x["counts"], rate).sum(-1),
    }


def _reference_terms(model, batch, init):
    z = model.posterior(batch).loc.detach().double().numpy()  # teacher z̃ (B, T, K)
    x = {mod: batch.obs[mod].double().numpy() for mod in ("gauss", "counts")}
    s = batch.inputs.double()
    b, t, k = z.shape
    dyn = model.dynamics.double()
    pred = np.zeros((b, t, dyn.latent_dim))  # pred[:, t] = ẑ_{t+1}
    with torch.no_grad():
        for i in range(b):
            state = torch.cat([torch.from_numpy(z[i, 0]), init[i].double()])
            for step in range(t):
                if step % model.tau == 0:
                    state = torch.cat([torch.from_numpy(z[i, step]), state[k:]])
                state = dyn.step(state, s[i, step])
                pred[i, step] = state.numpy()
    model.dynamics.float()
    valid = batch.valid_steps().numpy()
    n_rec, n_next = valid.sum(), valid[:, 1:].sum()
    rec = _log_lik(model, z, x)
    gen = _log_lik(model, pred[:, :-1, :k], {mod: v[:, 1:] for mod, v in x.items()})
    sd = model.latent_scale.detach().double().numpy()
    lat = norm.logpdf(z[:, 1:], pred[:, :-1, :k], sd).sum(-1)
    terms = {}
    for mod in ("gauss", "counts"):
        terms[f"nll.{mod}"] = -(rec[mod] * valid).sum() / n_rec
        terms[f"obs.{mod}"] = -(gen[mod] * valid[:, 1:]).sum() / n_next
    terms["lat"] = -(lat * valid[:, 1:]).sum() / n_next
    return terms


@pytest.mark.parametrize(
    ("k", "m", "tau", "lengths"),
    [(4, 4, 5, None), (4, 4, 3, [17, 11, 14]), (2, 4, 4, [17, 9, 16])],
    ids=["k=m", "k=m_padded", "k<m_padded"],
)
def test_terms_equal_the_explicit_loop(k, m, tau, lengths):
    batch = _batch(None if lengths is None else torch.tensor(lengths))
    model = _model(k, m, tau)
    weights = {"rec_weight": 0.5, "obs_weight": 2.0, "lat_weight": 0.3}
    model.elbo = MTFObjective(**weights, input_noise=0.0)
    torch.manual_seed(5)
    total, terms = model.loss(batch)
    # the only random draw of the deterministic setting: the unforced units' start, N(0, I)
    torch.manual_seed(5)
    init = torch.randn(batch.num_sequences, m - k)
    want = _reference_terms(model, batch, init)
    assert set(terms) == {*want, "kl.latent"}
    assert float(terms["kl.latent"]) == 0.0  # a point-mass teacher under the flat prior
    scale = {
        "nll": weights["rec_weight"],
        "obs": weights["obs_weight"],
        "lat": weights["lat_weight"],
    }
    for name, value in want.items():
        got = float(terms[name]) / scale[name.split(".")[0]]
        assert got == pytest.approx(value, rel=2e-5, abs=1e-5), name
    expected_total = sum(scale[n.split(".")[0]] * v for n, v in want.items())
    assert float(total.detach()) == pytest.approx(expected_total, rel=2e-5)
