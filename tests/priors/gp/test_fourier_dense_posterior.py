"""FourierGPPrior.posterior against Gaussian conditioning done densely with numpy.

The prior over the Fourier coefficients ``c`` of one latent is ``N(0, diag(s))`` and the trial is
``z = Bᵀ c`` with the basis ``B`` ``(F, T)``; the encoder's pseudo-observations are
``y_t = z_t + e_t``, ``e_t ~ N(0, scale_t² / w_t)`` (steps with ``w_t = 0`` carry nothing). The
reference conditions the joint Gaussian of ``(c, y)`` in covariance form (no precision matrix),
so it shares no code path with the library's precision-form solve.
"""

import numpy as np
import pytest
import torch
from gpytorch.kernels import MaternKernel, RBFKernel

from pyrodyn.priors.base import PriorContext
from pyrodyn.priors.gp import FourierGPPrior


def _dense_posterior(y, noise_var, mat, s):
    """Posterior mean ``(F,)`` and covariance ``(F, F)`` of ``c`` given the observed steps."""
    keep = np.isfinite(noise_var)
    b = mat[:, keep]  # (F, T_obs)
    cov_cy = s[:, None] * b  # Cov(c, y) = S B
    cov_yy = b.T @ cov_cy + np.diag(noise_var[keep])  # Bᵀ S B + R
    gain = np.linalg.solve(cov_yy, cov_cy.T).T  # S B (Bᵀ S B + R)⁻¹
    mean = gain @ y[keep]
    cov = np.diag(s) - gain @ cov_cy.T
    return mean, cov


@pytest.mark.parametrize(
    "kernel",
    [lambda: RBFKernel(batch_shape=torch.Size([2])), lambda: MaternKernel(nu=1.5)],
    ids=["rbf_per_latent", "matern32_shared"],
)
def test_mean_and_mean_field_variance_match_dense_conditioning(kernel):
    k = kernel()
    k.lengthscale = torch.tensor([[[3.0]], [[6.0]]]) if k.batch_shape else 4.0
    prior = FourierGPPrior(kernel=k, latent_dim=2, jitter=1e-4)
    b, t, d = 3, 25, 2
    ctx = PriorContext(num_sequences=b, num_steps=t)
    rng = np.random.default_rng(0)
    loc = rng.standard_normal((b, t, d))
    scale = rng.uniform(0.3, 1.5, (b, t, d))
    weights = rng.uniform(0.2, 2.0, (b, t))
    weights[1, 18:] = 0.0  # a shorter trial
    weights[2, 5:9] = 0.0  # a gap
    with torch.no_grad():
        q = prior.posterior(
            torch.from_numpy(loc), torch.from_numpy(scale), ctx, torch.from_numpy(weights)
        )
    basis = prior.grid(ctx)
    mat = basis.matrix(dtype=torch.float64).numpy()
    with torch.no_grad():
        s_all = prior.variances(basis).double().numpy()  # (D, F)
    assert q.loc.shape == (b, d, mat.shape[0]) and q.loc.dtype == torch.float64
    for i in range(b):
        with np.errstate(divide="ignore"):
            noise_var = scale[i] ** 2 / weights[i][:, None]  # inf where w = 0
        for j in range(d):
            mean, cov = _dense_posterior(loc[i, :, j], noise_var[:, j], mat, s_all[j])
            np.testing.assert_allclose(q.loc[i, j].numpy(), mean, rtol=1e-7, atol=1e-9)
            # mean-field variance: the conditional variance of each coefficient given the others
            mean_field = 1.0 / np.diag(np.linalg.inv(cov))
            np.testing.assert_allclose(q.scale[i, j].numpy() ** 2, mean_field, rtol=1e-6)
            # the data shrink the variance of the coefficients they inform
            assert np.all(q.scale[i, j].numpy() ** 2 <= s_all[j] * (1 + 1e-9))
            assert np.min(q.scale[i, j].numpy() ** 2 / s_all[j]) < 0.5
            # time domain: the same mean as conditioning the trajectory z = Bᵀ c directly
            k_traj = mat.T @ (s_all[j][:, None] * mat)  # implied prior covariance (T, T)
            obs = np.isfinite(noise_var[:, j])
            k_oo = k_traj[np.ix_(obs, obs)] + np.diag(noise_var[obs, j])
            traj_mean = k_traj[:, obs] @ np.linalg.solve(k_oo, loc[i, obs, j])
            np.testing.assert_allclose(mat.T @ q.loc[i, j].numpy(), traj_mean, atol=1e-8)


def test_time_marginals_of_a_float64_posterior_match_a_numpy_sum():
    """Mean ``sum_f B_ft mu_f`` and variance ``sum_f B_ft^2 sigma_f^2``, shaped ``(B, T, D)``."""
    k = RBFKernel(batch_shape=torch.Size([3]))
    k.lengthscale = 3.0
    prior = FourierGPPrior(kernel=k, latent_dim=3)
    b, t = 2, 11
    ctx = PriorContext(num_sequences=b, num_steps=t)
    f = prior.grid(ctx).num_coefficients
    g = torch.Generator().manual_seed(0)
    loc = torch.randn(b, 3, f, dtype=torch.float64, generator=g)
    scale = 0.2 + torch.rand(b, 3, f, dtype=torch.float64, generator=g)
    mean, var = prior.time_marginals(torch.distributions.Normal(loc, scale), ctx)
    assert mean.shape == var.shape == (b, t, 3) and var.dtype == torch.float64
    mat = prior.grid(ctx).matrix(dtype=torch.float64).numpy()
    want_mean = np.einsum("bdf,ft->btd", loc.numpy(), mat)
    want_var = np.einsum("bdf,ft->btd", scale.numpy() ** 2, mat**2)
    np.testing.assert_allclose(mean.numpy(), want_mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(var.numpy(), want_var, rtol=1e-12, atol=1e-14)


def test_per_latent_weights_and_float32_inputs():
    """``(B, T, D)`` weights act per latent; float32 inputs give a float32 posterior."""
    k = RBFKernel()
    k.lengthscale = 4.0
    prior = FourierGPPrior(kernel=k, latent_dim=2)
    b, t, d = 2, 16, 2
    ctx = PriorContext(num_sequences=b, num_steps=t)
    rng = np.random.default_rng(1)
    loc = rng.standard_normal((b, t, d))
    scale = rng.uniform(0.3, 1.5, (b, t, d))
    weights = rng.uniform(0.2, 2.0, (b, t, d))
    weights[0, :, 1] = 0.0  # latent 1 of trial 0 is unobserved
    weights[1, 10:, 0] = 0.0
    with torch.no_grad():
        q = prior.posterior(
            torch.from_numpy(loc).float(),
            torch.from_numpy(scale).float(),
            ctx,
            torch.from_numpy(weights).float(),
        )
        s_all = prior.variances(prior.grid(ctx)).double().numpy()
    assert q.loc.dtype == torch.float32 and q.scale.dtype == torch.float32
    mat = prior.grid(ctx).matrix(dtype=torch.float64).numpy()
    for i in range(b):
        with np.errstate(divide="ignore"):
            noise_var = scale[i] ** 2 / weights[i]
        for j in range(d):
            mean, cov = _dense_posterior(loc[i, :, j], noise_var[:, j], mat, s_all[j])
            np.testing.assert_allclose(q.loc[i, j].numpy(), mean, rtol=1e-4, atol=1e-5)
            mean_field = 1.0 / np.diag(np.linalg.inv(cov))
            np.testing.assert_allclose(q.scale[i, j].numpy() ** 2, mean_field, rtol=1e-4)
    np.testing.assert_allclose(q.scale[0, 1].numpy() ** 2, s_all[1], rtol=1e-5)
