"""An ordinary SVAE that is an LGSSM: Pyro's joint, the exact marginal, and IWAE against it.

The references here are independent of :mod:`pyrodyn.diagnostics.kalman`: the log joint is
summed by hand with ``scipy.stats.norm`` from the SVAE's own module attributes, and the exact
Gaussian over the trajectory is built in information form (the block-tridiagonal prior
precision plus the observation terms), then integrated with ``scipy.stats.multivariate_normal``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal, norm

from pyrodyn.diagnostics import draw_posterior, iwae_bound
from pyrodyn.diagnostics.kalman import kalman_smoother, posterior_log_prob, posterior_sample
from pyrodyn.likelihoods.gaussian import Gaussian
from pyrodyn.likelihoods.poisson import Poisson
from pyrodyn.models.svae import SVAE
from pyrodyn.testing.lgssm import (
    fit_encoder,
    lgssm_batch,
    lgssm_svae,
    model_log_joint,
    svae_to_lgssm,
)

D, T, B = 2, 6, 5
DIMS = {"a": 2, "b": 1}


def _raw(model: SVAE) -> dict[str, np.ndarray]:
    """The generative parameters read straight off the SVAE's modules."""
    prior = model.prior
    get = {
        "s0": prior.init_scale,
        "sigma": prior.noise_scale,
        "A": prior.dynamics.A,
        "b": prior.dynamics.b,
        "W": torch.cat([model.decoders[m].heads["loc"].weight for m in model.modalities]),
        "c": torch.cat([model.decoders[m].heads["loc"].bias for m in model.modalities]),
        "r": torch.cat([model.likelihoods[m].scale for m in model.modalities]),
    }
    return {k: v.detach().numpy().astype(np.float64) for k, v in get.items()}


def _hand_log_joint(p: dict[str, np.ndarray], z: np.ndarray, y: np.ndarray) -> float:
    """``log p(z, y)`` of one sequence, term by term (NaN entries of y are missing)."""
    lp = norm(0.0, p["s0"]).logpdf(z[0]).sum()
    for t in range(1, z.shape[0]):
        lp += norm(p["A"] @ z[t - 1] + p["b"], p["sigma"]).logpdf(z[t]).sum()
        # z_{t+1} = A z_t + b: a residual map z + f(z) would differ here
    for t in range(z.shape[0]):
        o = ~np.isnan(y[t])
        lp += norm(p["W"] @ z[t] + p["c"], p["r"]).logpdf(np.nan_to_num(y[t]))[o].sum()
    return float(lp)


def _information_form(p: dict[str, np.ndarray], y: np.ndarray):
    """Prior mean/cov of the stacked trajectory, its posterior given y, and log p(y_obs)."""
    a, qi = p["A"], np.diag(p["sigma"] ** -2)
    n = T * D
    j = np.zeros((n, n))
    h = np.zeros(n)
    j[:D, :D] += np.eye(D) / p["s0"] ** 2
    for t in range(T - 1):
        s, u = slice(t * D, (t + 1) * D), slice((t + 1) * D, (t + 2) * D)
        j[s, s] += a.T @ qi @ a
        j[u, u] += qi
        j[s, u] -= a.T @ qi
        j[u, s] -= qi @ a
        h[u] += qi @ p["b"]
        h[s] -= a.T @ qi @ p["b"]
    cov = np.linalg.inv(j)
    mean = cov @ h
    o = ~np.isnan(y.reshape(-1))
    big_h = np.kron(np.eye(T), p["W"])[o]
    r2 = np.tile(p["r"] ** 2, T)[o]
    resid = y.reshape(-1)[o] - np.tile(p["c"], T)[o]
    j_post = j + big_h.T @ (big_h / r2[:, None])
    post_cov = np.linalg.inv(j_post)
    post_mean = post_cov @ (h + big_h.T @ (resid / r2))
    marg = multivariate_normal(big_h @ mean, big_h @ cov @ big_h.T + np.diag(r2))
    return post_mean, post_cov, marg.logpdf(resid)


def _data(seed: int = 0):
    model, ssm = lgssm_svae(D, DIMS, seed=seed)
    _, y = ssm.sample(B, T, torch.Generator().manual_seed(seed + 100))
    y = y.clone()
    rng = np.random.default_rng(seed)
    miss = torch.as_tensor(rng.random(y.shape) < 0.3)
    miss[0, 0] = True  # a whole step missing
    miss[1] = False  # one sequence fully observed
    miss[2, -1, 1:] = True
    y[miss] = float("nan")
    return model, ssm, y


def test_svae_to_lgssm_reads_the_generative_parameters():
    model, ssm = lgssm_svae(D, DIMS, seed=3, init_scale=0.8, noise_scale=0.25, obs_scale=0.6)
    p = _raw(model)
    np.testing.assert_allclose(ssm.init_mean.numpy(), np.zeros(D))
    np.testing.assert_allclose(ssm.init_cov.numpy(), 0.64 * np.eye(D), rtol=1e-12)
    np.testing.assert_allclose(ssm.A.numpy(), p["A"])
    np.testing.assert_allclose(ssm.b.numpy(), p["b"])
    np.testing.assert_allclose(ssm.Q.numpy(), 0.0625 * np.eye(D), rtol=1e-12)
    np.testing.assert_allclose(ssm.C.numpy(), p["W"])
    np.testing.assert_allclose(ssm.d.numpy(), p["c"])
    np.testing.assert_allclose(ssm.R.numpy(), 0.36 * np.eye(3), rtol=1e-12)
    assert np.abs(np.linalg.eigvals(p["A"])).max() == pytest.approx(0.9)
    # only the encoder trains
    trainable = {n.split(".")[0] for n, q in model.named_parameters() if q.requires_grad}
    assert trainable == {"encoder"}


def test_svae_to_lgssm_rejects_models_that_are_not_linear_gaussian():
    with pytest.raises(ValueError, match="'p' needs a Gaussian likelihood"):
        svae_to_lgssm(SVAE({"p": Poisson(2)}, 2))
    with pytest.raises(ValueError, match="'g' needs a LinearDecoder, got MLPDecoder"):
        svae_to_lgssm(SVAE({"g": Gaussian(2)}, 2, decoder="mlp"))
    with pytest.raises(ValueError, match="needs a Gaussian likelihood of vectors"):
        svae_to_lgssm(SVAE({"g": Gaussian(2, scale_from_decoder=True)}, 2))


def test_pyro_log_joint_is_the_lgssm_log_joint():
    model, ssm, y = _data()
    p = _raw(model)
    z = torch.randn(3, B, T, D, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    batch = lgssm_batch(model, y)
    for s in range(3):
        pyro_lp = model_log_joint(model, batch, z[s]).numpy()
        hand = [_hand_log_joint(p, z[s, i].numpy(), y[i].numpy()) for i in range(B)]
        np.testing.assert_allclose(pyro_lp, hand, rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(ssm.log_joint(z[s], y).numpy(), hand, rtol=1e-12, atol=1e-10)


def test_kalman_log_marginal_integrates_the_pyro_joint():
    """log p(y) = log p(y, z) - log p(z | y) for every z; both sides from independent code."""
    model, ssm, y = _data(1)
    p = _raw(model)
    res = kalman_smoother(ssm, y)
    batch = lgssm_batch(model, y)
    z = torch.randn(4, B, T, D, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    for i in range(B):
        post_mean, post_cov, logp = _information_form(p, y[i].numpy())
        np.testing.assert_allclose(res.log_marginal[i].item(), logp, rtol=1e-11)
        np.testing.assert_allclose(res.means[i].reshape(-1).numpy(), post_mean, atol=1e-9)
        for s in range(4):
            joint = model_log_joint(model, batch, z[s])[i].item()
            post = multivariate_normal(post_mean, post_cov).logpdf(z[s, i].reshape(-1).numpy())
            np.testing.assert_allclose(joint - post, logp, rtol=1e-10)


def test_exact_posterior_guide_has_constant_weights_equal_to_log_p_y():
    model, ssm, y = _data(2)
    res = kalman_smoother(ssm, y)
    z = posterior_sample(res, 50, torch.Generator().manual_seed(0))
    batch = lgssm_batch(model, y)
    lw = torch.stack([model_log_joint(model, batch, zs) for zs in z]) - posterior_log_prob(res, z)
    exact = res.log_marginal.numpy()
    np.testing.assert_allclose(lw.numpy(), np.broadcast_to(exact, lw.shape), rtol=1e-10)
    for k in (1, 7, 50):
        np.testing.assert_allclose(iwae_bound(lw.numpy(), k), exact, rtol=1e-10)


def test_iwae_of_a_fitted_guide_increases_with_k_and_stays_below_log_p_y():
    """E[IWAE_K] is non-decreasing in K and bounded by log p(y) (Burda et al. 2016).

    A mean-field guide cannot represent the correlated LGSSM posterior, so the gaps are wide
    (about 2.2, 1.0, 0.5 nats per trial at K = 1, 10, 100); they are averaged over 8 trials and
    2000 draws each and compared with 4 standard errors.
    """
    model, ssm = lgssm_svae(D, 3, seed=0)
    _, y = ssm.sample(64, T, torch.Generator().manual_seed(0))
    batch = lgssm_batch(model, y)
    before = {n: q.clone() for n, q in model.named_parameters() if not q.requires_grad}
    losses = fit_encoder(model, batch, steps=200)
    assert np.mean(losses[-20:]) < 0.5 * losses[0]  # the guide learned something
    for n, q in model.named_parameters():
        if n in before:
            torch.testing.assert_close(q, before[n], rtol=0, atol=0)
    rows = torch.arange(8)
    exact = kalman_smoother(svae_to_lgssm(model), y[rows]).log_marginal.numpy()
    lw = draw_posterior(model, batch[rows], 2000, predictive=False).log_weights
    gaps, ses = [], []
    for k in (1, 10, 100):
        groups = lw.reshape(2000 // k, k, len(rows))
        per_group = np.stack([iwae_bound(g) for g in groups]).mean(axis=1)  # mean over trials
        gaps.append(exact.mean() - per_group.mean())
        ses.append(per_group.std(ddof=1) / np.sqrt(len(per_group)))
    for k_gap, k_se in zip(gaps, ses):
        assert k_gap > 4 * k_se  # below log p(y)
    for i in range(2):
        assert gaps[i] - gaps[i + 1] > 4 * np.hypot(ses[i], ses[i + 1])  # increasing in K
