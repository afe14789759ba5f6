"""Spectral densities of GPyTorch kernels: a closed-form registry and the wrapped-FFT fallback.

Convention: ``S(omega) = integral k(tau) exp(-i omega tau) d tau`` with ``omega`` in radians per
time unit, one input dimension (time). A kernel with ``batch_shape`` ``(D,)`` gives one density per
latent: :func:`spectral_density` returns ``(*batch_shape, F)`` for ``omega`` of shape ``(F,)``.

Extend the registry with one function::

    @spectral_density.register(MyKernel)
    def _(kernel, omega):
        return ...  # (*kernel.batch_shape, F)

Kernels without a registered closed form use :func:`circulant_eigenvalues`: the real FFT of the
autocovariance *wrapped* onto the padded circle, ``r_tau = sum_m k(tau + m n dt)``, which equals
the exact eigenvalues of the periodised covariance the Fourier prior uses (specs/mmgpvae.md
section 7; the unwrapped ``k(min(tau, n - tau))`` embedding can be non-PSD and was 23 % off).
"""

from __future__ import annotations

import functools
import math

import torch
from gpytorch.kernels import (
    AdditiveKernel,
    Kernel,
    MaternKernel,
    RBFKernel,
    ScaleKernel,
    SpectralMixtureKernel,
)
from torch import Tensor


class NoClosedFormError(NotImplementedError):
    """A kernel has no registered closed-form spectral density (the FFT fallback applies)."""


@functools.singledispatch
def spectral_density(kernel: Kernel, omega: Tensor) -> Tensor:
    """Closed-form spectral density ``(*kernel.batch_shape, F)`` at ``omega`` ``(F,)``.

    Raises:
        NoClosedFormError: the kernel type has no registered density.
    """
    raise NoClosedFormError(
        f"no closed-form spectral density registered for {type(kernel).__name__}; register one "
        "with @spectral_density.register or use the wrapped-FFT fallback"
    )


def _time_lengthscale(kernel: Kernel) -> Tensor:
    ls = kernel.lengthscale
    if ls.shape[-1] != 1:
        raise ValueError(
            f"{type(kernel).__name__} has ard_num_dims={ls.shape[-1]}; a temporal GP prior needs "
            "one input dimension (time)"
        )
    return ls[..., 0, 0]  # (*batch)


@spectral_density.register(RBFKernel)
def _rbf(kernel: RBFKernel, omega: Tensor) -> Tensor:
    ell = _time_lengthscale(kernel)[..., None]
    return ell * math.sqrt(2.0 * math.pi) * torch.exp(-0.5 * (ell * omega) ** 2)


@spectral_density.register(MaternKernel)
def _matern(kernel: MaternKernel, omega: Tensor) -> Tensor:
    nu = float(kernel.nu)
    ell = _time_lengthscale(kernel)[..., None]
    lam = 2.0 * nu / ell**2
    const = 2.0 * math.sqrt(math.pi) * math.exp(math.lgamma(nu + 0.5) - math.lgamma(nu))
    return const * lam**nu * (lam + omega**2) ** (-(nu + 0.5))


@spectral_density.register(SpectralMixtureKernel)
def _spectral_mixture(kernel: SpectralMixtureKernel, omega: Tensor) -> Tensor:
    if kernel.mixture_means.shape[-1] != 1:
        raise ValueError("SpectralMixtureKernel must have ard_num_dims=1 for a temporal prior")
    w = kernel.mixture_weights[..., None]  # (*batch, Q, 1)
    mu = 2.0 * math.pi * kernel.mixture_means[..., 0, 0][..., None]  # (*batch, Q, 1)
    sd = 2.0 * math.pi * kernel.mixture_scales[..., 0, 0][..., None]
    norm = 1.0 / (sd * math.sqrt(2.0 * math.pi))
    bumps = torch.exp(-0.5 * ((omega - mu) / sd) ** 2) + torch.exp(-0.5 * ((omega + mu) / sd) ** 2)
    return (w * math.pi * norm * bumps).sum(-2)


@spectral_density.register(ScaleKernel)
def _scale(kernel: ScaleKernel, omega: Tensor) -> Tensor:
    return kernel.outputscale[..., None] * spectral_density(kernel.base_kernel, omega)


@spectral_density.register(AdditiveKernel)
def _additive(kernel: AdditiveKernel, omega: Tensor) -> Tensor:
    parts = [spectral_density(k, omega) for k in kernel.kernels]
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total


def has_closed_form(kernel: Kernel) -> bool:
    """Whether :func:`spectral_density` has a closed form for ``kernel`` (and its parts)."""
    try:
        with torch.no_grad():
            spectral_density(kernel, torch.zeros(1))
    except NoClosedFormError:
        return False
    return True


# ---------------------------------------------------------------------- kernel evaluation
def _kernel_param_dtype(kernel: Kernel) -> torch.dtype:
    for p in kernel.parameters():
        return p.dtype
    return torch.get_default_dtype()


def _kernel_device(kernel: Kernel) -> torch.device:
    for p in kernel.parameters():
        return p.device
    return torch.device("cpu")


def autocovariance(kernel: Kernel, lags: Tensor) -> Tensor:
    """``k(lag)`` for lags ``(L,)`` (time units) -> ``(*batch_shape, L)``."""
    x0 = lags.new_zeros(1, 1)
    return kernel(x0, lags[:, None]).to_dense()[..., 0, :]


def check_stationary(kernel: Kernel, scale: float = 1.0, rtol: float = 1e-4) -> None:
    """Raises ``ValueError`` unless ``k(t + s, t' + s) == k(t, t')`` at random points.

    GPyTorch's ``is_stationary`` only mirrors ``has_lengthscale``, so it is checked numerically.

    Args:
        kernel: the kernel.
        scale: typical time scale of the inputs (e.g. the trial duration).
        rtol: relative tolerance (relative to the largest |k|).
    """
    g = torch.Generator().manual_seed(1234)
    dtype, device = _kernel_param_dtype(kernel), _kernel_device(kernel)
    x = (torch.rand(6, 1, generator=g, dtype=torch.float64) * scale).to(dtype=dtype, device=device)
    y = (torch.rand(5, 1, generator=g, dtype=torch.float64) * scale).to(dtype=dtype, device=device)
    with torch.no_grad():
        base = kernel(x, y).to_dense()
        for shift in (0.37 * scale, 3.1 * scale):
            moved = kernel(x + shift, y + shift).to_dense()
            tol = rtol * base.abs().max().clamp_min(1e-30) + 1e-6 * (1.0 + shift / scale)
            if not bool(((moved - base).abs() <= tol).all()):
                err = float((moved - base).abs().max())
                raise ValueError(
                    f"kernel {type(kernel).__name__} is not stationary: k(t + s, t' + s) differs "
                    f"from k(t, t') by {err:.3g} at shift s={shift:.3g}; the Fourier GP prior "
                    "needs a stationary kernel (use DenseGPPrior for non-stationary ones)"
                )


def decay_lag(kernel: Kernel, dt: float, tol: float = 1e-4, max_steps: int = 1 << 20) -> float:
    """Smallest lag (time units) beyond which ``|k(lag)| <= tol * k(0)`` (on a ``dt`` grid).

    Raises:
        ValueError: the kernel does not decay within ``max_steps`` steps (periodic or cosine
            kernels, whose wrapped autocovariance diverges).
    """
    dtype, device = _kernel_param_dtype(kernel), _kernel_device(kernel)
    steps = 256
    with torch.no_grad():
        while True:
            lags = torch.arange(steps, dtype=dtype, device=device) * dt
            k = autocovariance(kernel, lags).reshape(-1, steps).abs()
            rel = k / k[:, :1].clamp_min(1e-30)
            above = (rel > tol).any(0)
            # the tail (last quarter) must be below tolerance to call it decayed
            if not bool(above[3 * steps // 4 :].any()):
                last = int(above.nonzero().max()) if bool(above.any()) else 0
                return (last + 1) * dt
            if steps >= max_steps:
                raise ValueError(
                    f"kernel {type(kernel).__name__} does not decay: |k(tau)| > {tol:g} k(0) at "
                    f"lags beyond {steps} steps. Kernels that do not decay (PeriodicKernel, "
                    "CosineKernel) have no wrapped spectral density on a padded circle; use a "
                    "locally periodic ProductKernel(PeriodicKernel(), RBFKernel()) or DenseGPPrior"
                )
            steps *= 4


def wrapped_autocovariance(kernel: Kernel, n: int, dt: float, wraps: int = 3) -> Tensor:
    """Wrapped autocovariance ``r_tau = sum_{|m| <= wraps} k((tau + m n) dt)``, ``(*batch, n)``."""
    dtype, device = _kernel_param_dtype(kernel), _kernel_device(kernel)
    tau = torch.arange(n, dtype=torch.float64)
    m = torch.arange(-wraps, wraps + 1, dtype=torch.float64)
    lags = ((tau[None, :] + m[:, None] * n) * dt).abs().reshape(-1)
    k = autocovariance(kernel, lags.to(device=device, dtype=dtype))
    return k.reshape(*k.shape[:-1], 2 * wraps + 1, n).sum(-2)


def circulant_eigenvalues(kernel: Kernel, n: int, dt: float, wraps: int = 3) -> Tensor:
    """Eigenvalues of the wrapped covariance on an ``n``-point circle, ``(*batch, n // 2 + 1)``.

    Entry ``k`` belongs to integer frequency ``k`` (angular ``2 pi k / (n dt)``); equals
    ``S(omega_k) / dt`` up to aliasing for kernels with a closed form. Tiny negative round-off is
    clamped to 0 (differentiable elsewhere).
    """
    r = wrapped_autocovariance(kernel, n, dt, wraps)
    lam = torch.fft.rfft(r, dim=-1).real
    return lam.clamp_min(0.0)


__all__ = [
    "NoClosedFormError",
    "autocovariance",
    "check_stationary",
    "circulant_eigenvalues",
    "decay_lag",
    "has_closed_form",
    "spectral_density",
    "wrapped_autocovariance",
]
