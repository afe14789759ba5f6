import math

import gpytorch
import pytest
import torch
from gpytorch.kernels import (
    AdditiveKernel,
    CosineKernel,
    LinearKernel,
    MaternKernel,
    PeriodicKernel,
    RBFKernel,
    ScaleKernel,
    SpectralMixtureKernel,
)

from pyrodyn.priors.gp.spectral import (
    NoClosedFormError,
    check_stationary,
    circulant_eigenvalues,
    decay_lag,
    has_closed_form,
    spectral_density,
    wrapped_autocovariance,
)


def _rbf(ell=6.0, batch=()):
    k = RBFKernel(batch_shape=torch.Size(batch)).double()
    k.lengthscale = ell
    return k


def _matern(nu, ell=6.0):
    k = MaternKernel(nu=nu).double()
    k.lengthscale = ell
    return k


def _sm():
    k = SpectralMixtureKernel(num_mixtures=2).double()
    k.mixture_weights = torch.tensor([1.0, 0.5], dtype=torch.float64)
    k.mixture_means = torch.tensor([0.0, 0.08], dtype=torch.float64).view(2, 1, 1)
    k.mixture_scales = torch.tensor([0.04, 0.05], dtype=torch.float64).view(2, 1, 1)
    return k


def _scale_add():
    s = ScaleKernel(_rbf(5.0)).double()
    s.outputscale = 2.5
    return AdditiveKernel(s, _matern(2.5, 4.0))


KERNELS = {
    "rbf": lambda: _rbf(),
    "matern12": lambda: _matern(0.5),
    "matern32": lambda: _matern(1.5),
    "matern52": lambda: _matern(2.5),
    "spectral_mixture": _sm,
    "scale_additive": _scale_add,
}


@pytest.mark.parametrize("name", sorted(KERNELS))
@torch.no_grad()
def test_closed_form_matches_wrapped_fft_eigenvalues(name):
    """S(omega)/dt summed over aliases == exact eigenvalues of the wrapped kernel matrix."""
    kernel = KERNELS[name]()
    n, dt = 96, 0.5
    lam = circulant_eigenvalues(kernel, n, dt, wraps=40)
    omega = 2 * math.pi * torch.arange(n // 2 + 1, dtype=torch.float64) / (n * dt)
    m = torch.arange(-3000, 3001, dtype=torch.float64)
    aliased = spectral_density(kernel, (omega[:, None] + 2 * math.pi * m / dt).reshape(-1))
    aliased = aliased.reshape(*aliased.shape[:-1], n // 2 + 1, m.numel()).sum(-1) / dt
    torch.testing.assert_close(lam, aliased, rtol=2e-3, atol=1e-9 * float(lam.max()))


@pytest.mark.parametrize("name", sorted(KERNELS))
@torch.no_grad()
def test_wrapped_eigenvalues_diagonalise_the_dense_circulant_matrix(name):
    kernel = KERNELS[name]()
    n, dt = 64, 1.0
    r = wrapped_autocovariance(kernel, n, dt, wraps=40)
    idx = (torch.arange(n)[:, None] - torch.arange(n)[None, :]) % n
    dense = r[..., idx]  # circulant matrix of the wrapped kernel
    eig = torch.linalg.eigvalsh(dense).sort().values
    lam = circulant_eigenvalues(kernel, n, dt, wraps=40)
    full = torch.cat([lam, lam[..., 1 : (n + 1) // 2]], -1).sort().values
    torch.testing.assert_close(full, eig, rtol=1e-6, atol=1e-9)


@torch.no_grad()
def test_rbf_closed_form_value():
    k = _rbf(3.0)
    omega = torch.tensor([0.0, 0.2, 1.0], dtype=torch.float64)
    want = 3.0 * math.sqrt(2 * math.pi) * torch.exp(-0.5 * (3.0 * omega) ** 2)
    torch.testing.assert_close(spectral_density(k, omega), want[None].squeeze(0))


@torch.no_grad()
def test_batched_kernel_gives_one_density_per_latent():
    k = _rbf(batch=(3,))
    k.lengthscale = torch.tensor([2.0, 5.0, 9.0], dtype=torch.float64).view(3, 1, 1)
    s = spectral_density(k, torch.linspace(0, 1, 7, dtype=torch.float64))
    assert s.shape == (3, 7)
    torch.testing.assert_close(
        s[:, 0], torch.tensor([2.0, 5.0, 9.0]).double() * math.sqrt(2 * math.pi)
    )


def test_registry_is_extensible_with_one_function():
    class MyKernel(gpytorch.kernels.Kernel):
        is_stationary = True

        def forward(self, x1, x2, diag=False, **params):
            return torch.exp(-0.5 * (x1 - x2.transpose(-1, -2)) ** 2)

    k = MyKernel()
    assert not has_closed_form(k)

    @spectral_density.register(MyKernel)
    def _(kernel, omega):
        return math.sqrt(2 * math.pi) * torch.exp(-0.5 * omega**2)

    assert has_closed_form(k)
    assert float(spectral_density(k, torch.zeros(1))) == pytest.approx(math.sqrt(2 * math.pi))


def test_no_closed_form_raises_specific_error():
    with pytest.raises(NoClosedFormError, match="PeriodicKernel"):
        spectral_density(PeriodicKernel(), torch.zeros(3))


@torch.no_grad()
def test_naive_unwrapped_embedding_is_wrong_but_wrapped_is_exact():
    """spec 7: FFT of k(min(tau, n - tau)) is off for long length-scales; wrapping is exact."""
    k = _rbf(30.0)
    n = 72
    lam = circulant_eigenvalues(k, n, 1.0, wraps=10)
    tau = torch.arange(n, dtype=torch.float64)
    naive_r = torch.exp(-0.5 * torch.minimum(tau, n - tau) ** 2 / 30.0**2)
    naive = torch.fft.rfft(naive_r).real
    exact_r = sum(torch.exp(-0.5 * (tau + m * n) ** 2 / 30.0**2) for m in range(-10, 11))
    torch.testing.assert_close(lam, torch.fft.rfft(exact_r).real.clamp_min(0))
    assert float((naive - lam).abs().max() / lam[0]) > 0.05


def test_stationarity_check():
    check_stationary(_rbf())
    check_stationary(_scale_add())
    with pytest.raises(ValueError, match="LinearKernel is not stationary"):
        check_stationary(LinearKernel())


@pytest.mark.parametrize("kernel", [PeriodicKernel(), CosineKernel()])
def test_non_decaying_kernels_raise(kernel):
    with pytest.raises(ValueError, match="does not decay"):
        decay_lag(kernel, 1.0, max_steps=4096)


def test_decay_lag_of_rbf():
    lag = decay_lag(_rbf(4.0), 1.0, tol=1e-4)
    # exp(-lag^2 / (2 l^2)) = 1e-4  ->  lag = l sqrt(2 ln 1e4) = 17.2
    assert 17.0 <= lag <= 18.5
