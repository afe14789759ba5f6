import math

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
