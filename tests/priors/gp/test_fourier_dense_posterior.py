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
