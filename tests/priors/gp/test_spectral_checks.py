"""Input checks of the spectral helpers: time-only length-scales, stationarity tolerance, kernels
without parameters."""

import math

import numpy as np
import pytest
import torch
from gpytorch.kernels import Kernel, MaternKernel, RBFKernel, ScaleKernel

from pyrodyn.priors.gp import FourierGPPrior
from pyrodyn.priors.gp.spectral import (
    check_stationary,
    circulant_eigenvalues,
    decay_lag,
    spectral_density,
    wrapped_autocovariance,
)


class _Laplace(Kernel):
    """``exp(-|t - t'| / 2)``: stationary, decaying, and without any parameter."""

    def forward(self, x1, x2, diag=False, **params):
        return torch.exp(-0.5 * (x1 - x2.transpose(-1, -2)).abs())


class _Drift(Kernel):
    """``amp [exp(-(t - t')^2 / 2) + eps (t + t') / 100]``: a shift ``s`` moves it by
    ``2 amp eps s / 100``."""

    def __init__(self, amp, eps):
        super().__init__()
        self.amp, self.eps = amp, eps

    def forward(self, x1, x2, diag=False, **params):
        d = x1 - x2.transpose(-1, -2)
        drift = (x1 + x2.transpose(-1, -2)) / 100.0
        return self.amp * (torch.exp(-0.5 * d**2) + self.eps * drift)


@pytest.mark.parametrize("batch", [(), (3,)])
@pytest.mark.parametrize("cls", [RBFKernel, lambda **kw: MaternKernel(nu=1.5, **kw)])
def test_densities_refuse_more_than_one_input_dimension(cls, batch):
    kernel = cls(ard_num_dims=2, batch_shape=torch.Size(batch))
    with pytest.raises(ValueError, match="ard_num_dims=2"):
        spectral_density(kernel, torch.zeros(4))


@pytest.mark.parametrize(
    ("amp", "eps", "stationary"),
    [
        (1.0, 1e-2, False),  # moves by 6e-3 at the largest shift: far beyond 1e-4
        (1.0, 1e-5, True),  # 6e-6: within the relative tolerance
        (1e6, 1e-8, True),  # 6e-3 in absolute terms, but 6e-9 of the kernel's size
        (1e-3, 7.5e-3, False),  # 4.65e-6: above rtol * 1e-3 plus the 1e-6 (1 + 3.1) floor
    ],
)
def test_stationarity_tolerance_is_relative_with_a_small_absolute_floor(amp, eps, stationary):
    """Shifts 0.37 and 3.1 ``scale``; tolerance ``1e-4 max|k| + 1e-6 (1 + shift / scale)``."""
    kernel = _Drift(amp, eps)
    if stationary:
        check_stationary(kernel, scale=10.0)
    else:
        with pytest.raises(ValueError, match="not stationary"):
            check_stationary(kernel, scale=10.0)


def test_kernel_without_parameters_in_the_fourier_prior():
    kernel = _Laplace()
    assert decay_lag(kernel, 1.0) == math.floor(2 * math.log(1e4)) + 1  # exp(-lag / 2) <= 1e-4
    prior = FourierGPPrior(kernel=kernel, padding=12.0)
    basis = prior.basis(20)
    n = basis.n
    tau = np.arange(n)[None, :] + n * np.arange(-3, 4)[:, None]
    lam = np.clip(np.fft.rfft(np.exp(-0.5 * np.abs(tau)).sum(0)).real, 0.0, None)
    with torch.no_grad():
        s = prior.variances(basis)
    assert s.dtype == torch.get_default_dtype()
    np.testing.assert_allclose(
        s[0].double().numpy(), lam[basis.indices().numpy()] + 1e-4, rtol=1e-4
    )


def _rbf(ell):
    k = RBFKernel()
    k.lengthscale = ell
    return k


def test_decay_lag_looks_no_further_than_max_steps():
    """l = 150 decays after ~645 steps, l = 200 after ~860: only within max_steps is it found."""
    want = (np.flatnonzero(np.exp(-0.5 * (np.arange(2000) / 150.0) ** 2) > 1e-4).max() + 1) * 1.0
    assert decay_lag(_rbf(150.0), 1.0, max_steps=1024) == want
    for ell, max_steps in ((150.0, 256), (200.0, 1024)):
        with pytest.raises(ValueError, match="does not decay"):
            decay_lag(_rbf(ell), 1.0, max_steps=max_steps)


def test_decay_lag_with_a_tolerance_above_one_is_one_step():
    """No lag exceeds ``tol * k(0)`` when ``tol > 1``: the lag is one step."""
    assert decay_lag(_rbf(3.0), 0.5, tol=1.5) == 0.5


def test_fourier_prior_probes_stationarity_over_ten_steps():
    """The check runs at ``scale = 10 dt`` (10 time units when ``dt`` is unknown).

    A drift of ``2 amp eps s / 100`` at shifts 3.7 and 31 (scale 10) stays below the 4.2e-6
    tolerance; at shifts 7.4 and 62 (dt = 2, scale 20) it does not.
    """
    FourierGPPrior(kernel=_Drift(1e-3, 5e-3))
    FourierGPPrior(kernel=_Drift(1e-3, 6.5e-3))  # 4.03e-6 at shift 31; 4.43e-6 at 34.1
    with pytest.raises(ValueError, match="not stationary"):
        FourierGPPrior(kernel=_Drift(1e-3, 5e-3), dt=2.0)


@pytest.mark.parametrize("outputscale", [0.2, 5.0])
def test_decay_lag_is_relative_to_the_kernel_variance(outputscale):
    kernel = ScaleKernel(_rbf(4.0))
    kernel.outputscale = outputscale
    assert decay_lag(kernel, 1.0) == decay_lag(_rbf(4.0), 1.0) == 18.0  # exp(-l^2/32) > 1e-4


def test_default_wraps_and_probe_scale():
    """Three wraps each side by default; stationarity is probed at scale 1 by default."""
    kernel = MaternKernel(nu=0.5)
    kernel.lengthscale = 30.0  # e^{-n / l} = e^{-0.5}: every wrap matters on 15 points
    n = 15
    tau = np.arange(n)[None, :] + n * np.arange(-3, 4)[:, None]
    r = np.exp(-np.abs(tau) / 30.0).sum(0)
    with torch.no_grad():
        got_r = wrapped_autocovariance(kernel, n, 1.0)
        got_lam = circulant_eigenvalues(kernel, n, 1.0)
    np.testing.assert_allclose(got_r.double().numpy(), r, rtol=1e-5)
    np.testing.assert_allclose(got_lam.double().numpy(), np.fft.rfft(r).real, rtol=1e-4)
    check_stationary(_Drift(1e-3, 0.05))  # moves 3.1e-6 at shift 3.1: below 4.2e-6
    with pytest.raises(ValueError, match="not stationary"):
        check_stationary(_Drift(1e-3, 0.05), scale=2.0)  # 6.2e-6 at shift 6.2
