"""Real orthonormal Fourier basis of a padded circle, restricted to the first ``T`` steps.

A trial of ``T`` steps spaced ``dt`` apart is embedded in a circle of ``n >= T`` points. On the
full circle the real DFT rows

* ``cos(2 pi k t / n) / sqrt(n)`` for ``k = 0`` (and the Nyquist ``k = n / 2`` when ``n`` is even),
* ``sqrt(2 / n) cos(2 pi k t / n)`` and ``sqrt(2 / n) sin(2 pi k t / n)`` for ``0 < k < n / 2``,

are orthonormal and diagonalise every circulant (wrapped stationary) covariance: cosine and sine
rows of the same ``k`` share one eigenvalue. Keeping only frequencies ``k <= K`` (pruning) gives
``F = 2 K + 1`` rows (``2 K`` when ``K`` is the Nyquist frequency). Rows are ordered
``[cos_0, cos_1, ..., cos_K, sin_1, ..., sin_K']``.

The map from coefficients to time is a matrix product with the cached ``(F, T)`` basis for short
trials and an inverse real FFT of length ``n`` for long ones (:data:`MATMUL_MAX_STEPS`, measured by
``scripts/bench_gp_prior.py``). Reference: Aoi & Pillow (2017), "Scalable Bayesian inference for
high-dimensional neural receptive fields"; Gondur et al. (ICLR 2024), MM-GPVAE.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

#: Trials up to this many steps map coefficients to time with a cached basis product; longer ones
#: use ``irfft`` (measured crossover, see ``scripts/bench_gp_prior.py`` and BENCHMARKS.md).
MATMUL_MAX_STEPS: int = 512


class FourierBasis:
    """The pruned real Fourier basis of one ``(T, n, dt, K)`` grid.

    Args:
        num_steps: T, the trial length in steps (``>= 1``).
        circle_length: n, points on the padded circle (``>= T``).
        dt: step between time points (time units).
        max_index: K, the highest kept integer frequency (``0 <= K <= n // 2``).
        method: ``"auto"`` (matrix product for ``T <= MATMUL_MAX_STEPS``, else irfft),
            ``"matmul"`` or ``"fft"``.
    """

    def __init__(
        self,
        num_steps: int,
        circle_length: int,
        dt: float,
        max_index: int,
        method: str = "auto",
    ) -> None:
        if int(num_steps) < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        if int(circle_length) < int(num_steps):
            raise ValueError(
                f"circle_length n={circle_length} is shorter than the trial (T={num_steps}); the "
                "padded circle must hold the whole trial"
            )
        if not 0 <= int(max_index) <= int(circle_length) // 2:
            raise ValueError(
                f"max_index must lie in [0, n // 2 = {int(circle_length) // 2}], got {max_index}"
            )
        if method not in ("auto", "matmul", "fft"):
            raise ValueError(f"method must be 'auto', 'matmul' or 'fft', got {method!r}")
        self.num_steps = int(num_steps)
        self.n = int(circle_length)
        self.dt = float(dt)
        self.max_index = int(max_index)
        self.nyquist = self.n % 2 == 0 and self.max_index == self.n // 2
        self.num_cos = self.max_index + 1
        self.num_sin = self.max_index - (1 if self.nyquist else 0)
        self.method = method
        self._matrices: dict[tuple[torch.device, torch.dtype], Tensor] = {}

    @property
    def num_coefficients(self) -> int:
        """F, rows of the basis."""
        return self.num_cos + self.num_sin

    @property
    def use_fft(self) -> bool:
        """Whether :meth:`to_time` uses the inverse FFT."""
        if self.method == "auto":
            return self.num_steps > MATMUL_MAX_STEPS
        return self.method == "fft"

    def indices(self) -> Tensor:
        """Integer frequency of every row ``(F,)`` (long)."""
        cos = torch.arange(self.num_cos)
        sin = torch.arange(1, self.num_sin + 1)
        return torch.cat([cos, sin])

    def omega(self, *, device=None, dtype=None) -> Tensor:
        """Angular frequency of every row, radians per time unit ``(F,)``."""
        k = self.indices().to(device=device, dtype=dtype or torch.get_default_dtype())
        return 2.0 * math.pi * k / (self.n * self.dt)

    def matrix(self, *, device=None, dtype=None) -> Tensor:
        """The basis ``(F, T)`` (rows orthonormal on the full circle), cached per device/dtype."""
        dtype = dtype or torch.get_default_dtype()
        key = (torch.device(device or "cpu"), dtype)
        mat = self._matrices.get(key)
        if mat is None:
            t = torch.arange(self.num_steps, dtype=torch.float64)
            k = self.indices().to(torch.float64)
            phase = 2.0 * math.pi * k[:, None] * t[None, :] / self.n
            is_cos = torch.arange(self.num_coefficients) < self.num_cos
            rows = torch.where(is_cos[:, None], torch.cos(phase), torch.sin(phase))
            scale = torch.full((self.num_coefficients,), math.sqrt(2.0 / self.n), dtype=t.dtype)
            scale[0] = 1.0 / math.sqrt(self.n)
            if self.nyquist:
                scale[self.num_cos - 1] = 1.0 / math.sqrt(self.n)
            mat = (rows * scale[:, None]).to(device=key[0], dtype=dtype)
            self._matrices[key] = mat
        return mat

    def to_time(self, coeffs: Tensor) -> Tensor:
        """Coefficients ``(..., F)`` -> time series ``(..., T)``."""
        if coeffs.shape[-1] != self.num_coefficients:
            raise ValueError(
                f"expected {self.num_coefficients} Fourier coefficients in the last dim, got "
                f"shape {tuple(coeffs.shape)}"
            )
        if not self.use_fft:
            return coeffs @ self.matrix(device=coeffs.device, dtype=coeffs.dtype)
        cos = coeffs[..., : self.num_cos]
        sin = coeffs[..., self.num_cos :]
        # ortho irfft: x_t = n^-1/2 [X_0 + 2 sum_k Re(X_k e^{i theta}) + X_nyq (-1)^t], so the
        # paired rows need X_k = (c_k - i s_k) / sqrt(2) and the unpaired ones X_k = c_k.
        real = cos.clone()
        last = self.num_cos - (1 if self.nyquist else 0)
        real[..., 1:last] = real[..., 1:last] / math.sqrt(2.0)
        imag = torch.zeros_like(cos)
        imag[..., 1 : self.num_sin + 1] = -sin / math.sqrt(2.0)
        spec = torch.complex(real, imag)
        full = coeffs.new_zeros(*coeffs.shape[:-1], self.n // 2 + 1, dtype=spec.dtype)
        full[..., : self.num_cos] = spec
        return torch.fft.irfft(full, n=self.n, dim=-1, norm="ortho")[..., : self.num_steps]

    def to_fourier(self, x: Tensor, weights: Tensor | None = None, ridge: float = 0.0) -> Tensor:
        """Least-squares coefficients of time series ``(..., T)`` -> ``(..., F)``.

        Args:
            x: time series ``(..., T)``.
            weights: optional ``(..., T)`` non-negative weights (0 drops a step, e.g. padding).
            ridge: Tikhonov term added to the normal equations (needed when few steps are kept).
        """
        mat = self.matrix(device=x.device, dtype=x.dtype)
        if weights is None and ridge == 0.0 and self.num_steps == self.n:
            return x @ mat.T  # orthonormal on the full circle
        w = torch.ones_like(x) if weights is None else weights.to(x.dtype).expand_as(x)
        gram = torch.einsum("...t,ft,gt->...fg", w, mat, mat)
        gram = gram + ridge * torch.eye(mat.shape[0], dtype=x.dtype, device=x.device)
        rhs = torch.einsum("...t,ft->...f", w * x, mat)
        return torch.linalg.solve(gram, rhs.unsqueeze(-1)).squeeze(-1)

    def __repr__(self) -> str:
        return (
            f"FourierBasis(T={self.num_steps}, n={self.n}, dt={self.dt}, K={self.max_index}, "
            f"F={self.num_coefficients})"
        )
