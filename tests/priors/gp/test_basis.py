import math

import numpy as np
import pytest
import torch

from pyrodyn.priors.gp.basis import FourierBasis


@pytest.mark.parametrize(("n", "k"), [(16, 8), (15, 7), (20, 5)])
def test_rows_are_orthonormal_on_the_full_circle(n, k):
    b = FourierBasis(n, n, 1.0, k)
    mat = b.matrix(dtype=torch.float64)
    torch.testing.assert_close(mat @ mat.T, torch.eye(b.num_coefficients, dtype=torch.float64))
    assert b.num_coefficients == (n if 2 * k >= n - 1 else 2 * k + 1)


@pytest.mark.parametrize(("t", "n", "k"), [(10, 16, 8), (10, 16, 3), (13, 15, 7), (30, 45, 22)])
def test_irfft_path_equals_matrix_product(t, n, k):
    fft = FourierBasis(t, n, 0.5, k, method="fft")
    mm = FourierBasis(t, n, 0.5, k, method="matmul")
    c = torch.randn(4, 3, fft.num_coefficients, dtype=torch.float64)
    torch.testing.assert_close(fft.to_time(c), mm.to_time(c))


def test_frequencies_and_to_fourier_roundtrip():
    b = FourierBasis(40, 64, 0.25, 10)
    omega = b.omega(dtype=torch.float64)
    assert omega[1].item() == pytest.approx(2 * math.pi / (64 * 0.25))
    c = torch.randn(2, b.num_coefficients, dtype=torch.float64)
    x = b.to_time(c)
    torch.testing.assert_close(b.to_time(b.to_fourier(x)), x)
    w = torch.ones(2, 40, dtype=torch.float64)
    w[:, 35:] = 0.0  # dropped steps do not matter when the series is in the span
    y = x.clone()
    y[:, 35:] = 100.0
    torch.testing.assert_close(b.to_time(b.to_fourier(y, w))[:, :35], x[:, :35])
    full = FourierBasis(64, 64, 1.0, 32)  # orthonormal: projection is exact
    c = torch.randn(3, 64, dtype=torch.float64)
    torch.testing.assert_close(full.to_fourier(full.to_time(c)), c)


def test_bad_arguments():
    with pytest.raises(ValueError, match="shorter than the trial"):
        FourierBasis(20, 10, 1.0, 3)
    with pytest.raises(ValueError, match="max_index"):
        FourierBasis(10, 20, 1.0, 11)
    b = FourierBasis(10, 20, 1.0, 3)
    with pytest.raises(ValueError, match="Fourier coefficients"):
        b.to_time(torch.zeros(5))


def test_omega_is_2_pi_k_over_n_dt_per_row_in_the_requested_dtype():
    b = FourierBasis(12, 20, 0.3, 6)  # rows: cos_0..cos_6, sin_1..sin_6
    ks = list(range(7)) + list(range(1, 7))
    want = torch.tensor([2 * math.pi * k / (20 * 0.3) for k in ks], dtype=torch.float64)
    omega = b.omega(dtype=torch.float64)
    assert omega.dtype == torch.float64
    torch.testing.assert_close(omega, want, rtol=1e-15, atol=0)
    assert b.omega().dtype == torch.get_default_dtype()
    torch.testing.assert_close(b.omega(), want.to(torch.get_default_dtype()))


def test_to_fourier_on_the_full_circle_honours_ridge_and_weights():
    """Orthonormal rows: the normal equations are ``(1 + ridge) I c = B x`` without weights."""
    b = FourierBasis(16, 16, 1.0, 8)
    mat = b.matrix(dtype=torch.float64)
    x = torch.randn(3, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    projection = x @ mat.T
    torch.testing.assert_close(b.to_fourier(x), projection)
    for ridge in (0.1, 1.0, 2.5):
        # float64 to the last bits: the ridge is not rounded to float32
        torch.testing.assert_close(
            b.to_fourier(x, ridge=ridge), projection / (1 + ridge), rtol=1e-13, atol=1e-15
        )
    # a boolean step mask: weighted least squares on the kept steps only (numpy reference)
    pruned = FourierBasis(16, 16, 1.0, 4)  # F = 9 < 10 kept steps
    a = pruned.matrix(dtype=torch.float64)[:, :10].numpy()
    keep = torch.ones(3, 16, dtype=torch.bool)
    keep[:, 10:] = False
    for ridge in (0.0, 0.5):
        c = pruned.to_fourier(x, keep, ridge=ridge)
        for i in range(3):
            ref = np.linalg.solve(a @ a.T + ridge * np.eye(9), a @ x[i, :10].numpy())
            np.testing.assert_allclose(c[i].numpy(), ref, rtol=1e-10, atol=1e-12)
    # the coefficients follow the series' dtype whatever the weights' dtype
    c32 = pruned.to_fourier(x.float(), keep.double(), ridge=0.5)
    assert c32.dtype == torch.float32
    torch.testing.assert_close(c32, pruned.to_fourier(x, keep, ridge=0.5).float())


@pytest.mark.parametrize(("t", "n", "k"), [(10, 16, 8), (10, 16, 3), (13, 15, 7)])
def test_matrix_matches_the_real_dft_rows_written_out(t, n, k):
    b = FourierBasis(t, n, 0.5, k)
    nyquist = n % 2 == 0 and k == n // 2
    rows = [np.cos(2 * np.pi * j * np.arange(t) / n) for j in range(k + 1)]
    rows += [np.sin(2 * np.pi * j * np.arange(t) / n) for j in range(1, k + (0 if nyquist else 1))]
    scale = np.full(len(rows), np.sqrt(2.0 / n))
    scale[0] = 1 / np.sqrt(n)
    if nyquist:
        scale[k] = 1 / np.sqrt(n)
    want = scale[:, None] * np.array(rows)
    mat = b.matrix(dtype=torch.float64)
    np.testing.assert_allclose(mat.numpy(), want, rtol=0, atol=1e-14)
    assert b.matrix(dtype=torch.float64) is mat  # cached
    assert b.matrix(dtype=torch.float32).dtype == torch.float32
    c = torch.randn(b.num_coefficients, dtype=torch.float64)  # a single series
    for method in ("matmul", "fft"):
        x = FourierBasis(t, n, 0.5, k, method=method).to_time(c)
        np.testing.assert_allclose(x.numpy(), c.numpy() @ want, rtol=0, atol=1e-12)


def test_smallest_grids_are_accepted():
    one = FourierBasis(1, 4, 1.0, 2)  # a single step
    assert one.matrix(dtype=torch.float64).shape == (4, 1)
    mean_only = FourierBasis(5, 8, 1.0, 0)  # only the constant row
    assert mean_only.num_coefficients == 1
    np.testing.assert_allclose(
        mean_only.to_time(torch.ones(1, dtype=torch.float64)).numpy(), np.full(5, 1 / np.sqrt(8))
    )
    with pytest.raises(ValueError, match="num_steps must be >= 1"):
        FourierBasis(0, 4, 1.0, 1)
