"""DenseGPPrior against closed-form kernel matrices and Gaussian conditioning done with numpy."""

import numpy as np
import pytest
import torch
from gpytorch.kernels import Kernel, RBFKernel, ScaleKernel

from pyrodyn.priors.base import PriorContext
from pyrodyn.priors.gp import DenseGPPrior


def _rbf(ell, batch=()):
    k = RBFKernel(batch_shape=torch.Size(batch))
    k.lengthscale = ell
    return k


def _rbf_matrix(t, ell, var=1.0):
    """``var * exp(-(t - t')^2 / (2 ell^2))`` with numpy, float64."""
    t = np.asarray(t, dtype=np.float64)
    return var * np.exp(-0.5 * (t[:, None] - t[None, :]) ** 2 / ell**2)


def _covariance(prior, ctx):
    """Covariance ``(B, D, T, T)`` of the prior's site as a float64 numpy array."""
    with torch.no_grad():
        return prior.distribution(ctx).base_dist.covariance_matrix.double().numpy()


class _Laplace(Kernel):
    """``exp(-|t - t'| / 2)``: a stationary kernel with no parameters at all."""

    def forward(self, x1, x2, diag=False, **params):
        d = (x1 - x2.transpose(-1, -2)).abs()
        return torch.exp(-0.5 * d)


class _Skewed(Kernel):
    """``exp(-(t - t')^2 / 8) + 0.01 (t - t')``: a symmetric part plus an antisymmetric error."""

    def forward(self, x1, x2, diag=False, **params):
        d = x1 - x2.transpose(-1, -2)
        return torch.exp(-(d**2) / 8.0) + 0.01 * d


def test_defaults_give_the_kernel_matrix_on_a_unit_grid():
    """No times in the context: steps are ``dt`` apart (1 by default), jitter is tiny."""
    t = 12
    prior = DenseGPPrior(kernel=_rbf(3.0))
    ctx = PriorContext(num_sequences=2, num_steps=t)
    want = _rbf_matrix(np.arange(t), 3.0)
    np.testing.assert_allclose(
        _covariance(prior, ctx), np.broadcast_to(want, (2, 1, t, t)), atol=1e-5
    )
    # the site follows the context's dtype (float32 here), not the float64 factorisation
    assert prior.distribution(ctx).sample().dtype == torch.float32
    half = DenseGPPrior(kernel=_rbf(3.0), dt=0.5)
    np.testing.assert_allclose(
        _covariance(half, ctx)[0, 0], _rbf_matrix(0.5 * np.arange(t), 3.0), atol=1e-5
    )


def test_float64_context_builds_its_grid_in_float64():
    """dt = 0.1 is not a float32 number: a float64 context gets the exact float64 grid."""
    t = 40
    prior = DenseGPPrior(kernel=_rbf(0.5), dt=0.1, jitter=1e-6)
    ctx = PriorContext(num_sequences=1, num_steps=t, like=torch.zeros((), dtype=torch.float64))
    dist = prior.distribution(ctx)
    assert dist.sample().dtype == torch.float64
    np.testing.assert_allclose(
        _covariance(prior, ctx)[0, 0],
        _rbf_matrix(0.1 * np.arange(t), 0.5) + 1e-6 * np.eye(t),
        rtol=0,
        atol=1e-12,
    )


def test_shared_kernel_gives_one_gp_per_requested_latent():
    prior = DenseGPPrior(3, RBFKernel())
    ctx = PriorContext(num_sequences=2, num_steps=7)
    assert prior.latent_dim == 3
    assert prior.distribution(ctx).event_shape == (3, 7)
    assert prior.sample(ctx).shape == (2, 7, 3)


def test_bad_jitter_or_dt_is_refused_and_zero_jitter_is_fine():
    for kwargs in ({"jitter": -1e-3}, {"dt": 0.0}, {"dt": -1.0}):
        with pytest.raises(ValueError, match="jitter must be >= 0 and dt > 0"):
            DenseGPPrior(kernel=RBFKernel(), **kwargs)
    prior = DenseGPPrior(kernel=_rbf(2.0), jitter=0.0)
    ctx = PriorContext(num_sequences=1, num_steps=5)
    np.testing.assert_allclose(
        _covariance(prior, ctx)[0, 0], _rbf_matrix(np.arange(5), 2.0), atol=1e-12
    )


def test_kernel_without_parameters_works():
    prior = DenseGPPrior(kernel=_Laplace())
    ctx = PriorContext(num_sequences=1, num_steps=6)
    t = np.arange(6.0)
    want = np.exp(-0.5 * np.abs(t[:, None] - t[None, :]))
    np.testing.assert_allclose(_covariance(prior, ctx)[0, 0], want, atol=1e-5)


def test_kernel_matrix_is_symmetrised_before_the_factorisation():
    """Round-off can make a Gram matrix asymmetric; the prior uses its symmetric part."""
    prior = DenseGPPrior(kernel=_Skewed(), jitter=0.0)
    ctx = PriorContext(num_sequences=1, num_steps=6)
    t = np.arange(6.0)
    want = np.exp(-((t[:, None] - t[None, :]) ** 2) / 8.0)
    np.testing.assert_allclose(_covariance(prior, ctx)[0, 0], want, atol=1e-10)


def test_jitter_is_relative_to_each_latents_own_variance():
    kernel = ScaleKernel(_rbf(2.0, batch=(2,)), batch_shape=torch.Size([2]))
    kernel.outputscale = torch.tensor([1.0, 100.0])
    prior = DenseGPPrior(kernel=kernel, jitter=0.1)
    ctx = PriorContext(num_sequences=1, num_steps=8)
    cov = _covariance(prior, ctx)[0]
    for d, var in enumerate((1.0, 100.0)):
        want = _rbf_matrix(np.arange(8), 2.0, var) + 0.1 * var * np.eye(8)
        np.testing.assert_allclose(cov[d], want, rtol=1e-5)


def test_a_grid_shared_by_the_batch_is_factorised_once(monkeypatch):
    """The O(T^3) Cholesky runs on one ``(T, T)`` matrix per latent, not one per trial."""
    sizes = []
    cholesky = torch.linalg.cholesky

    def spy(a, *args, **kwargs):
        sizes.append(tuple(a.shape))
        return cholesky(a, *args, **kwargs)

    monkeypatch.setattr(torch.linalg, "cholesky", spy)
    prior = DenseGPPrior(kernel=_rbf(3.0))
    times = torch.arange(10.0).expand(5, 10)
    prior.distribution(PriorContext(num_sequences=5, num_steps=10, times=times))
    assert sizes == [(1, 1, 10, 10)]
    sizes.clear()
    shifted = times + torch.arange(5.0)[:, None] * 0.5  # one grid per trial
    prior.distribution(PriorContext(num_sequences=5, num_steps=10, times=shifted))
    assert sizes == [(5, 1, 10, 10)]


def test_posterior_matches_numpy_gaussian_conditioning():
    """Mean ``K (K + R)^-1 y`` and mean-field variance ``1 / diag(K^-1 + R^-1)`` per latent."""
    b, t, d, ell, jitter = 2, 12, 2, 2.0, 1e-3
    prior = DenseGPPrior(kernel=_rbf(ell), latent_dim=d, jitter=jitter)
    ctx = PriorContext(num_sequences=b, num_steps=t)
    rng = np.random.default_rng(0)
    loc = rng.standard_normal((b, t, d))
    scale = rng.uniform(0.3, 1.2, (b, t, d))
    k = _rbf_matrix(np.arange(t), ell) + jitter * np.eye(t)
    per_step = rng.uniform(0.5, 2.0, (b, t))
    per_latent = rng.uniform(0.5, 2.0, (b, t, d))
    per_latent[0, :, 1] = 0.0  # latent 1 of trial 0 is unobserved: the prior is the posterior
    per_latent[1, 8:, 0] = 0.0
    for weights in (per_step, per_latent):
        with torch.no_grad():
            q = prior.posterior(
                torch.from_numpy(loc).float(),
                torch.from_numpy(scale).float(),
                ctx,
                torch.from_numpy(weights).float(),
            )
        assert q.loc.dtype == torch.float32 and q.scale.dtype == torch.float32
        w = np.broadcast_to(weights[..., None], (b, t, d)) if weights.ndim == 2 else weights
        for i in range(b):
            for j in range(d):
                obs = w[i, :, j] > 0
                r = np.diag(scale[i, obs, j] ** 2 / w[i, obs, j])
                gain = k[:, obs] @ np.linalg.inv(k[np.ix_(obs, obs)] + r)
                mean = gain @ loc[i, obs, j]
                cov = k - gain @ k[obs, :]
                np.testing.assert_allclose(q.loc[i, j].numpy(), mean, rtol=1e-4, atol=1e-5)
                mean_field = 1.0 / np.diag(np.linalg.inv(cov))
                np.testing.assert_allclose(q.scale[i, j].numpy() ** 2, mean_field, rtol=1e-4)
    prior_var = 1.0 / np.diag(np.linalg.inv(k))
    np.testing.assert_allclose(q.scale[0, 1].numpy() ** 2, prior_var, rtol=1e-4)
