"""Kalman filter / RTS smoother against one dense Gaussian of the whole (x_{1:T}, y_{1:T}).

The reference builds the joint mean and covariance of all states and observations with numpy
(``x = M e + mean`` for the stacked innovations ``e``), conditions with ``numpy.linalg`` and
scores with ``scipy.stats.multivariate_normal``; nothing in it is recursive, so an error in a
filter or smoother index cannot cancel out.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.linalg import block_diag
from scipy.stats import multivariate_normal

from pyrodyn.diagnostics.kalman import (
    LinearGaussianSSM,
    kalman_filter,
    kalman_smoother,
    posterior_log_prob,
    posterior_sample,
)

DX, DY, T, B = 3, 2, 6, 4


def _spd(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
    a = rng.normal(size=(n, n))
    return scale * (a @ a.T / n + 0.3 * np.eye(n))


def _params(seed: int = 0, dx: int = DX, dy: int = DY) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(dx, dx))
    a *= 0.95 / np.abs(np.linalg.eigvals(a)).max()
    return {
        "init_mean": rng.normal(size=dx),
        "init_cov": _spd(rng, dx, 1.0),
        "A": a,
        "b": 0.3 * rng.normal(size=dx),
        "Q": _spd(rng, dx, 0.2),
        "C": rng.normal(size=(dy, dx)),
        "d": rng.normal(size=dy),
        "R": _spd(rng, dy, 0.3),
    }


def _ssm(p: dict[str, np.ndarray]) -> LinearGaussianSSM:
    return LinearGaussianSSM(**{k: torch.as_tensor(v) for k, v in p.items()})


def _dense(p: dict[str, np.ndarray], steps: int) -> dict[str, np.ndarray]:
    """Mean and covariance of the stacked states X (T*Dx) and observations Y (T*Dy)."""
    a, dx = p["A"], p["A"].shape[0]
    mean = [p["init_mean"]]
    for _ in range(steps - 1):
        mean.append(a @ mean[-1] + p["b"])
    m = np.zeros((steps * dx, steps * dx))
    for t in range(steps):
        for s in range(t + 1):
            m[t * dx : (t + 1) * dx, s * dx : (s + 1) * dx] = np.linalg.matrix_power(a, t - s)
    sxx = m @ block_diag(p["init_cov"], *[p["Q"]] * (steps - 1)) @ m.T
    h = np.kron(np.eye(steps), p["C"])
    mux = np.concatenate(mean)
    return {
        "mux": mux,
        "muy": h @ mux + np.tile(p["d"], steps),
        "sxx": sxx,
        "sxy": sxx @ h.T,
        "syy": h @ sxx @ h.T + np.kron(np.eye(steps), p["R"]),
    }


def _condition(j: dict[str, np.ndarray], y: np.ndarray, obs: np.ndarray):
    """Posterior mean/cov of X given the observed entries of flat Y; log p(y_obs)."""
    o = obs.reshape(-1)
    if not o.any():
        return j["mux"], j["sxx"], 0.0
    syy, sxy = j["syy"][np.ix_(o, o)], j["sxy"][:, o]
    r = y.reshape(-1)[o] - j["muy"][o]
    mean = j["mux"] + sxy @ np.linalg.solve(syy, r)
    cov = j["sxx"] - sxy @ np.linalg.solve(syy, sxy.T)
    return mean, cov, multivariate_normal(j["muy"][o], syy).logpdf(y.reshape(-1)[o])


def _data(p, mask_kind: str, seed: int = 1):
    ssm = _ssm(p)
    _, y = ssm.sample(B, T, torch.Generator().manual_seed(seed))
    rng = np.random.default_rng(seed)
    if mask_kind == "none":
        obs = np.ones((B, T, DY), bool)
    elif mask_kind == "steps":
        steps = rng.random((B, T)) > 0.3
        steps[0, -1] = steps[1, 0] = False  # a missing last and a missing first step
        steps[2] = False  # one sequence with no observation at all
        obs = np.repeat(steps[..., None], DY, -1)
    else:
        obs = rng.random((B, T, DY)) > 0.35
        obs[0, -1] = False
        obs[1, 0] = [True, False]
    y = y.numpy().copy()
    y[~obs] = np.nan  # missing values must never be read
    return ssm, y, obs


def _blocks(v: np.ndarray, c: np.ndarray, dx: int = DX):
    steps = v.size // dx
    means = v.reshape(steps, dx)
    covs = np.stack([c[t * dx : (t + 1) * dx, t * dx : (t + 1) * dx] for t in range(steps)])
    cross = np.stack(
        [c[(t + 1) * dx : (t + 2) * dx, t * dx : (t + 1) * dx] for t in range(steps - 1)]
    )
    return means, covs, cross


MASKS = ["none", "steps", "entries"]


@pytest.mark.parametrize("mask_kind", MASKS)
def test_smoother_matches_dense_conditioning(mask_kind):
    p = _params()
    ssm, y, obs = _data(p, mask_kind)
    mask = torch.as_tensor(obs if mask_kind == "entries" else obs[..., 0])
    res = kalman_smoother(ssm, torch.as_tensor(y), mask)
    j = _dense(p, T)
    for i in range(B):
        mean, cov, logp = _condition(j, y[i], obs[i])
        means, covs, cross = _blocks(mean, cov)
        np.testing.assert_allclose(res.means[i].numpy(), means, atol=1e-9, rtol=1e-8)
        np.testing.assert_allclose(res.covs[i].numpy(), covs, atol=1e-9, rtol=1e-8)
        np.testing.assert_allclose(res.cross_covs[i].numpy(), cross, atol=1e-9, rtol=1e-8)
        np.testing.assert_allclose(res.log_marginal[i].item(), logp, atol=1e-9, rtol=1e-10)


@pytest.mark.parametrize("mask_kind", ["none", "entries"])
def test_filter_and_predictions_match_dense_conditioning_on_the_past(mask_kind):
    p = _params(3)
    ssm, y, obs = _data(p, mask_kind, seed=4)
    res = kalman_filter(ssm, torch.as_tensor(y))  # mask from the NaNs
    j = _dense(p, T)
    for i in range(B):
        for t in range(T):
            past = obs[i].copy()
            past[t:] = False
            mean, cov, logp_prev = _condition(j, y[i], past)
            sl = slice(t * DX, (t + 1) * DX)
            np.testing.assert_allclose(res.pred_means[i, t].numpy(), mean[sl], atol=1e-9)
            np.testing.assert_allclose(res.pred_covs[i, t].numpy(), cov[sl, sl], atol=1e-9)
            past[t] = obs[i, t]
            mean, cov, logp = _condition(j, y[i], past)
            np.testing.assert_allclose(res.filt_means[i, t].numpy(), mean[sl], atol=1e-9)
            np.testing.assert_allclose(res.filt_covs[i, t].numpy(), cov[sl, sl], atol=1e-9)
            step = res.step_log_lik[i, t].item()
            np.testing.assert_allclose(step, logp - logp_prev, atol=1e-9)


def test_batched_sequences_are_independent():
    """A sequence's result does not depend on the others in the batch."""
    p = _params(5)
    ssm, y, _ = _data(p, "entries", seed=6)
    full = kalman_smoother(ssm, torch.as_tensor(y))
    one = kalman_smoother(ssm, torch.as_tensor(y[1:2]))
    torch.testing.assert_close(one.means[0], full.means[1])
    torch.testing.assert_close(one.cross_covs[0], full.cross_covs[1])
    torch.testing.assert_close(one.log_marginal[0], full.log_marginal[1])


def test_posterior_log_prob_is_the_dense_posterior_density():
    p = _params(7)
    ssm, y, obs = _data(p, "entries", seed=8)
    res = kalman_smoother(ssm, torch.as_tensor(y))
    x = torch.randn(5, B, T, DX, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    lp = posterior_log_prob(res, x)
    assert lp.shape == (5, B)
    j = _dense(p, T)
    for i in range(B):
        mean, cov, _ = _condition(j, y[i], obs[i])
        ref = multivariate_normal(mean, cov).logpdf(x[:, i].reshape(5, -1).numpy())
        np.testing.assert_allclose(lp[:, i].numpy(), ref, atol=1e-8, rtol=1e-10)


def test_posterior_samples_have_the_dense_posterior_moments():
    p = _params(9)
    ssm, y, obs = _data(p, "steps", seed=10)
    res = kalman_smoother(ssm, torch.as_tensor(y), torch.as_tensor(obs[..., 0]))
    n = 40_000
    xs = posterior_sample(res, n, torch.Generator().manual_seed(1))
    assert xs.shape == (n, B, T, DX)
    j = _dense(p, T)
    for i in range(B):
        mean, cov, _ = _condition(j, y[i], obs[i])
        flat = xs[:, i].reshape(n, -1).numpy()
        sd = np.sqrt(np.diag(cov))
        # 5 standard errors of the mean, and of the covariance (sd_i sd_j sqrt(2 / n) bounds it)
        assert np.all(np.abs(flat.mean(0) - mean) < 5 * sd / np.sqrt(n))
        tol = 5 * np.outer(sd, sd) * np.sqrt(2.0 / n)
        assert np.all(np.abs(np.cov(flat.T) - cov) < tol)


def test_log_joint_matches_dense_joint_density():
    p = _params(11)
    ssm, y, obs = _data(p, "entries", seed=12)
    x = torch.randn(2, B, T, DX, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    lp = ssm.log_joint(x, torch.as_tensor(y))
    j = _dense(p, T)
    for i in range(B):
        o = obs[i].reshape(-1)
        mu = np.concatenate([j["mux"], j["muy"][o]])
        cov = np.block([[j["sxx"], j["sxy"][:, o]], [j["sxy"][:, o].T, j["syy"][np.ix_(o, o)]]])
        for s in range(2):
            v = np.concatenate([x[s, i].reshape(-1).numpy(), y[i].reshape(-1)[o]])
            ref = multivariate_normal(mu, cov).logpdf(v)
            np.testing.assert_allclose(lp[s, i].item(), ref, atol=1e-8, rtol=1e-10)


def test_from_initial_state_is_an_unobserved_state_zero():
    """x_0 ~ N(m0, P0) unobserved equals the dense model of T+1 states with step 0 missing."""
    p = _params(13)
    m0, p0 = p["init_mean"], p["init_cov"]
    rest = {k: torch.as_tensor(p[k]) for k in ("A", "b", "Q", "C", "d", "R")}
    ssm = LinearGaussianSSM.from_initial_state(torch.as_tensor(m0), torch.as_tensor(p0), **rest)
    _, y = _ssm(p).sample(B, T, torch.Generator().manual_seed(2))
    res = kalman_smoother(ssm, y)
    j = _dense(p, T + 1)
    y_pad = np.concatenate([np.zeros((B, 1, DY)), y.numpy()], 1)
    obs = np.ones((T + 1, DY), bool)
    obs[0] = False
    for i in range(B):
        mean, cov, logp = _condition(j, y_pad[i], obs)
        means, covs, cross = _blocks(mean, cov)
        np.testing.assert_allclose(res.log_marginal[i].item(), logp, atol=1e-9)
        np.testing.assert_allclose(res.means[i].numpy(), means[1:], atol=1e-9)
        np.testing.assert_allclose(res.covs[i].numpy(), covs[1:], atol=1e-9)
        np.testing.assert_allclose(res.cross_covs[i].numpy(), cross[1:], atol=1e-9)


def test_single_step_and_scalar_model():
    p = _params(15, dx=1, dy=1)
    ssm = _ssm(p)
    y = torch.tensor([[[0.7]], [[float("nan")]]], dtype=torch.float64)
    res = kalman_smoother(ssm, y)
    assert res.cross_covs.shape == (2, 0, 1, 1)
    var = p["C"][0, 0] ** 2 * p["init_cov"][0, 0] + p["R"][0, 0]
    mu = p["C"][0, 0] * p["init_mean"][0] + p["d"][0]
    ref = multivariate_normal(mu, var).logpdf(0.7)
    np.testing.assert_allclose(res.log_marginal.numpy(), [ref, 0.0], atol=1e-12)
    # a sequence without observations keeps its prior
    np.testing.assert_allclose(res.means[1, 0].numpy(), p["init_mean"], atol=1e-12)
    assert posterior_sample(res, 3).shape == (3, 2, 1, 1)


def test_bad_inputs_are_rejected():
    ssm = _ssm(_params())
    y = torch.zeros(B, T, DY, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"y must have shape \(B, T, Dy=2\)"):
        kalman_filter(ssm, y[..., :1])
    with pytest.raises(ValueError, match=r"mask must have shape \(B, T\)"):
        kalman_filter(ssm, y, torch.ones(B, T + 1, dtype=torch.bool))
    y_nan = y.clone()
    y_nan[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite values at observed entries"):
        kalman_filter(ssm, y_nan, torch.ones(B, T, dtype=torch.bool))
    p = {k: torch.as_tensor(v) for k, v in _params().items()}
    p["Q"] = p["Q"][:2]
    with pytest.raises(ValueError, match=r"LinearGaussianSSM.Q must have shape \(3, 3\)"):
        LinearGaussianSSM(**p)
    bad = _params()
    bad["R"] = -np.eye(DY)
    with pytest.raises(ValueError, match="innovation covariance at step 0 is not positive"):
        kalman_filter(_ssm(bad), y)
