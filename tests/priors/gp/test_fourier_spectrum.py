"""FourierGPPrior's coefficient variances and pruning against closed forms computed with numpy."""

import math

import numpy as np
import pytest
import torch
from gpytorch.kernels import MaternKernel, RBFKernel

from pyrodyn.priors.gp import FourierGPPrior, spectral_density


def _rbf(ell, batch=()):
    k = RBFKernel(batch_shape=torch.Size(batch))
    k.lengthscale = torch.as_tensor(ell, dtype=torch.float32).reshape(*batch, 1, 1)
    return k


def _rbf_density(ell, omega):
    """``S(omega) = ell sqrt(2 pi) exp(-(ell omega)^2 / 2)``."""
    return ell * math.sqrt(2 * math.pi) * np.exp(-0.5 * (ell * omega) ** 2)


def _frequencies(basis):
    return 2 * math.pi * basis.indices().double().numpy() / (basis.n * basis.dt)


@pytest.mark.parametrize(("ell", "dt"), [(2.0, 1.0), (1.0, 0.5)])
def test_default_variances_are_the_closed_form_density_over_dt_plus_jitter(ell, dt):
    """Two steps of length-scale: aliasing near Nyquist is visible, and must not be included."""
    prior = FourierGPPrior(kernel=_rbf(ell))
    basis = prior.basis(20, dt)
    assert math.isfinite(float(prior.max_frequency))
    with torch.no_grad():
        s = prior.variances(basis)
    want = _rbf_density(ell, _frequencies(basis)) / dt + 1e-4
    assert s.shape == (1, basis.num_coefficients) and s.dtype == torch.float32
    np.testing.assert_allclose(s[0].double().numpy(), want, rtol=1e-5, atol=1e-10)


def test_batched_kernel_gives_each_latent_its_own_variances():
    prior = FourierGPPrior(kernel=_rbf([2.0, 3.0], batch=(2,)), jitter=0.0)
    basis = prior.basis(20)
    with torch.no_grad():
        s = prior.variances(basis).double().numpy()
    omega = _frequencies(basis)
    np.testing.assert_allclose(
        s, np.stack([_rbf_density(e, omega) for e in (2.0, 3.0)]), rtol=1e-5, atol=1e-10
    )


def test_float64_kernel_gives_float64_variances():
    kernel = RBFKernel().double()
    kernel.lengthscale = 2.0
    ell = kernel.lengthscale.item()
    prior = FourierGPPrior(kernel=kernel, dt=0.5)
    basis = prior.basis(20, 0.5)
    with torch.no_grad():
        s = prior.variances(basis)
    assert s.dtype == torch.float64
    want = _rbf_density(ell, _frequencies(basis)) / 0.5 + 1e-4
    np.testing.assert_allclose(s[0].numpy(), want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("wraps", [None, 0, 1])
def test_fft_variances_are_the_wrapped_circulant_eigenvalues(wraps):
    """Matern-1/2 with l = 30 on a 15-point circle: wraps up to +-4 circles still matter."""
    ell, t = 30.0, 10
    kernel = MaternKernel(nu=0.5)
    kernel.lengthscale = ell
    kwargs = {} if wraps is None else {"wraps": wraps}
    prior = FourierGPPrior(kernel=kernel, spectral="fft", padding=3.0, **kwargs)
    basis = prior.basis(t)
    n, m = basis.n, 3 if wraps is None else wraps
    tau = np.arange(n)[None, :] + n * np.arange(-m, m + 1)[:, None]
    r = np.exp(-np.abs(tau) / ell).sum(0)
    lam = np.clip(np.fft.rfft(r).real, 0.0, None)
    with torch.no_grad():
        s = prior.variances(basis)
    assert s.dtype == torch.float32  # the kernel's dtype
    s = s[0].double().numpy()
    want = lam[basis.indices().numpy()] + 1e-4
    np.testing.assert_allclose(s, want, rtol=1e-4)


def test_default_pruning_keeps_twice_the_rbf_cut_off():
    ell, kappa = 10.0, 1e8
    prior = FourierGPPrior(kernel=_rbf(ell))
    b = prior.basis(200)
    omega_c = math.sqrt(2 * math.log(kappa)) / ell  # exp(-l^2 omega_c^2 / 2) = 1 / kappa
    assert abs(b.max_index - math.floor(2.0 * omega_c * b.n / (2 * math.pi))) <= 2


@pytest.mark.parametrize("ell", [3.7, 5.0, 6.3, 7.0, 8.0, 12.0])
def test_the_cut_off_frequency_itself_is_kept(ell):
    """The cut-off is ``bandwidth`` times a grid frequency of the first grid: that one is kept.

    (The cut-off is stored in a float32 buffer; its rounding must not drop that frequency.)
    """
    prior = FourierGPPrior(kernel=_rbf(ell))
    b = prior.basis(50)
    ratio = float(prior.max_frequency) * b.n * b.dt / (2 * math.pi)
    assert round(ratio) % 2 == 0 and abs(ratio - round(ratio)) < 1e-5
    assert b.max_index == min(round(ratio), b.n // 2)


def test_batched_kernel_is_pruned_by_its_roughest_latent():
    """Each latent is compared with its own peak: the short length-scale sets the cut-off."""
    both = FourierGPPrior(kernel=_rbf([3.0, 12.0], batch=(2,)), padding=80.0)
    short = FourierGPPrior(kernel=_rbf(3.0), padding=80.0)
    assert both.basis(40).max_index == short.basis(40).max_index
    assert float(both.max_frequency) == pytest.approx(float(short.max_frequency), rel=1e-6)
    scaled = _rbf([3.0, 12.0], batch=(2,))
    scaled.lengthscale = torch.tensor([12.0, 3.0]).reshape(2, 1, 1)  # order does not matter
    swapped = FourierGPPrior(kernel=scaled, padding=80.0)
    assert swapped.basis(40).max_index == short.basis(40).max_index


def test_a_nearly_constant_kernel_keeps_at_least_the_first_harmonics():
    """Only frequency 0 is significant; the cut-off is ``bandwidth`` times the first harmonic."""
    prior = FourierGPPrior(kernel=_rbf(1000.0), padding=1.0, condthresh=10.0)
    b = prior.basis(10)
    assert b.n == 12 and b.max_index == 2


class _NarrowDensity(RBFKernel):
    """An RBF kernel whose registered density is that of a 3x longer length-scale."""


@spectral_density.register(_NarrowDensity)
def _(kernel, omega):
    ell = 3.0 * kernel.lengthscale[..., 0, 0][..., None]
    return ell * math.sqrt(2 * math.pi) * torch.exp(-0.5 * (ell * omega) ** 2)


def test_pruning_uses_the_kernel_itself_not_the_registered_density():
    """Thresholds come from the wrapped eigenvalues of the kernel, whatever ``spectral`` says."""
    narrow = _NarrowDensity()
    narrow.lengthscale = 4.0
    closed = FourierGPPrior(kernel=narrow, spectral="closed_form")
    plain = FourierGPPrior(kernel=_rbf(4.0))
    assert closed.basis(40).max_index == plain.basis(40).max_index
    assert float(closed.max_frequency) == float(plain.max_frequency)


def test_closed_form_spectrum_is_used_even_without_pruning():
    """Matern-1/2 keeps every frequency; ``spectral="closed_form"`` still uses ``S / dt``."""
    ell = 5.0
    kernel = MaternKernel(nu=0.5)
    kernel.lengthscale = ell
    prior = FourierGPPrior(kernel=kernel, spectral="closed_form", jitter=0.0)
    basis = prior.basis(30)
    assert float(prior.max_frequency) == math.inf
    omega = _frequencies(basis)
    want = 2 * ell / (1 + (ell * omega) ** 2)  # Matern-1/2 (exponential kernel) density
    with torch.no_grad():
        s = prior.variances(basis)[0].double().numpy()
    np.testing.assert_allclose(s, want, rtol=1e-5)
