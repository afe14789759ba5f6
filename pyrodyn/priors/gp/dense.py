"""Exact time-domain GP prior (dense kernel matrix): the reference and the O(T^3) baseline."""

from __future__ import annotations

import pyro.distributions as dist
import torch
from gpytorch.kernels import Kernel
from torch import Tensor

from pyrodyn.priors.base import LatentPrior, PriorContext
from pyrodyn.priors.gp.kernels import kernel_latent_dim, prior_arguments


class DenseGPPrior(LatentPrior):
    """Independent GPs per latent dimension with the exact kernel matrix on the trial's times.

    Site ``z``: ``(B, D, T)`` with a ``MultivariateNormal(0, K + jitter I)`` per latent; the
    Cholesky factor is computed in float64 (GPyTorch kernels in float32 are not PSD to working
    precision, specs/ecosystem.md A.4). Cost O(D T^3) per grid: the baseline the Fourier prior is
    benchmarked against. Any kernel works (stationary or not) and irregular times are fine.

    Args:
        latent_dim: D (default: the kernel's batch size, or 1).
        kernel: GPyTorch kernel on 1-D time; ``batch_shape`` ``(D,)`` or ``()`` (the old order
            ``DenseGPPrior(kernel, latent_dim)`` still works, with a ``FutureWarning``).
        jitter: relative diagonal jitter (times the mean kernel diagonal).
        dt: time step used when the context has no times.
    """

    def __init__(
        self,
        latent_dim: int | None = None,
        kernel: Kernel | None = None,
        *,
        jitter: float = 1e-6,
        dt: float = 1.0,
    ) -> None:
        latent_dim, kernel = prior_arguments("DenseGPPrior", latent_dim, kernel)
        super().__init__(kernel_latent_dim(kernel, latent_dim))
        if jitter < 0 or dt <= 0:
            raise ValueError(f"jitter must be >= 0 and dt > 0, got {jitter}, {dt}")
        self.kernel, self.jitter, self.dt = kernel, float(jitter), float(dt)

    def _times(self, ctx: PriorContext) -> Tensor:
        if ctx.num_steps is None:
            raise ValueError("DenseGPPrior needs sequences (num_steps), not static latents")
        if ctx.times is not None:
            times = ctx.times
            if bool((times == times[:1]).all()):
                return times[:1]  # one grid for the whole batch
            return times
        return (torch.arange(ctx.num_steps, device=ctx.device, dtype=ctx.dtype) * self.dt)[None]

    def scale_tril(self, times: Tensor) -> Tensor:
        """Cholesky factor ``(G, D, T, T)`` of the kernel matrix on ``times`` ``(G, T)``."""
        like = next(self.kernel.parameters(), times)
        # float64 inputs promote the kernel evaluation to float64 (float32 Gram matrices are not
        # PSD to working precision)
        x = times.to(device=like.device, dtype=torch.float64)[:, None, :, None]  # (G, 1, T, 1)
        k = self.kernel(x, x).to_dense().double()  # (G, D or 1, T, T)
        k = 0.5 * (k + k.transpose(-1, -2))
        eye = torch.eye(k.shape[-1], dtype=k.dtype, device=k.device)
        scale = torch.diagonal(k, dim1=-2, dim2=-1).mean(-1)[..., None, None]
        chol = torch.linalg.cholesky(k + self.jitter * scale * eye)
        return chol.expand(chol.shape[0], self.latent_dim, *chol.shape[-2:])

    def distribution(self, ctx: PriorContext) -> dist.TorchDistribution:
        """``MultivariateNormal`` with batch ``(B, D)`` and event ``(T,)``, folded to ``(D, T)``."""
        chol = self.scale_tril(self._times(ctx)).to(ctx.dtype)
        chol = chol.expand(ctx.num_sequences, *chol.shape[1:])
        loc = chol.new_zeros(chol.shape[:-1])
        return dist.MultivariateNormal(loc, scale_tril=chol).to_event(1)

    def posterior(
        self, loc: Tensor, scale: Tensor, ctx: PriorContext, weights: Tensor | None = None
    ) -> dist.Normal:
        """Mean-field posterior ``(..., B, D, T)`` from per-step pseudo-observations (O(T^3)).

        Same construction as :meth:`FourierGPPrior.posterior` in the time domain: precision
        ``K^-1 + W``; exact mean, variance ``1 / diag(precision)``. ``loc``/``scale`` are
        ``(..., B, T, D)`` (leading sample dims broadcast); the result is element-wise over the
        site (:meth:`guide_distribution` folds it).
        """
        chol = self.scale_tril(self._times(ctx)).to(loc.device)  # (G, D, T, T) float64
        eye = torch.eye(chol.shape[-1], dtype=chol.dtype, device=chol.device)
        k_inv = torch.cholesky_solve(eye, chol)
        prec_t = scale.double().transpose(-1, -2) ** -2  # (B, D, T)
        if weights is not None:
            w = weights.to(device=loc.device, dtype=torch.float64)
            w = w[..., None] if w.dim() == 2 else w
            prec_t = prec_t * w.transpose(-1, -2)
        lam = k_inv + torch.diag_embed(prec_t)
        rhs = (prec_t * loc.double().transpose(-1, -2)).unsqueeze(-1)
        mean = torch.cholesky_solve(rhs, torch.linalg.cholesky(lam)).squeeze(-1)
        var = 1.0 / torch.diagonal(lam, dim1=-2, dim2=-1)
        return dist.Normal(mean.to(loc.dtype), var.sqrt().to(loc.dtype))

    def to_latent(self, value: Tensor, ctx: PriorContext) -> Tensor:
        """``(..., B, D, T)`` -> ``(..., B, T, D)``."""
        return value.transpose(-1, -2)


__all__ = ["DenseGPPrior"]
