"""D_H: the Hellinger distance between smoothed power spectra of two trajectories.

GTF convention (Hess et al., ICML 2023; Mikhaeil et al. 2022) and the MTF repository's short-series
variant (Brenner et al., ICML 2024), as specified in specs/mtf.md 2.2.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import trapezoid
from scipy.ndimage import gaussian_filter1d

from pyrodyn.metrics._arrays import as_numpy, as_trajectory, check_same_features
from pyrodyn.metrics.base import register_metric


def _zscore(x: np.ndarray, axis: int) -> np.ndarray:
    """Standardise along ``axis``; constant series become zeros."""
    centred = x - x.mean(axis=axis, keepdims=True)
    # Tested on the data, not on sd: the mean of a constant series such as 0.1 is not always
    # the value itself, and the rounding residue it leaves would give a spurious DC spectrum.
    constant = np.ptp(x, axis=axis, keepdims=True) == 0
    centred = np.where(constant, 0.0, centred)
    sd = centred.std(axis=axis, keepdims=True)
    return centred / np.where(sd > 0, sd, 1.0)


def power_spectrum(x: np.ndarray, sigma: float = 20.0) -> np.ndarray:
    """Normalised, Gaussian-smoothed power spectrum of each column of ``x``.

    The steps of the GTF definition: z-score each series, ``P = |rfft(x)|**2``, smooth with
    ``scipy.ndimage.gaussian_filter1d`` (standard deviation ``sigma`` frequency bins, radius
    ``4 sigma``, reflect padding; ``sigma = 0`` skips smoothing), clip at 0, normalise to sum 1.

    Args:
        x: ``(T, N)`` (or ``(T,)``) trajectory.
        sigma: smoothing width in frequency bins (20 for 100k-step series).

    Returns:
        ``(T // 2 + 1, N)`` spectra, each column summing to 1 (all zeros for a constant series).
    """
    x = as_trajectory(x, "x")
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    spec = np.abs(np.fft.rfft(_zscore(x, axis=0), axis=0)) ** 2
    if sigma > 0:
        spec = gaussian_filter1d(spec, sigma, axis=0)
    spec = np.clip(spec, 0.0, None)
    total = spec.sum(axis=0, keepdims=True)
    return spec / np.where(total > 0, total, 1.0)


def _hellinger(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hellinger distance per column of two normalised spectra ``(F, N)``."""
    bc = np.sum(np.sqrt(p * q), axis=0)
    return np.sqrt(np.clip(1.0 - bc, 0.0, None))


@register_metric(
    "d_h",
    needs=("x_true", "x_gen"),
    description="Hellinger distance of Gaussian-smoothed power spectra, mean over dimensions",
)
def d_h(x_true: np.ndarray, x_gen: np.ndarray, *, sigma: float = 20.0) -> float:
    """Power-spectrum Hellinger distance ``D_H`` (GTF definition, spec mtf.md 2.2).

    Per dimension: :func:`power_spectrum` of both series, then
    ``H = sqrt(1 - sum_f sqrt(p_f q_f))`` (equal to ``||sqrt p - sqrt q||_2 / sqrt 2``); the result
    is the mean of ``H`` over dimensions. Trajectories of unequal length are truncated to their
    common length (the leading ``min(T, T')`` steps of each), so that both spectra live on the same
    frequency grid. A constant series has no spectrum and scores 1 against a non-constant one.

    Args:
        x_true: ``(T, N)`` ground-truth trajectory.
        x_gen: ``(T', N)`` generated trajectory.
        sigma: Gaussian smoothing in frequency bins (20 for 100k steps, about 2 for 10k).

    Returns:
        ``D_H`` in ``[0, 1]``; NaN when ``x_gen`` has non-finite values.
    """
    x_true = as_trajectory(x_true, "x_true")
    x_gen = as_trajectory(x_gen, "x_gen")
    check_same_features(x_true, x_gen)
    length = min(x_true.shape[0], x_gen.shape[0])
    if length < 2:
        raise ValueError(f"d_h needs at least 2 common time steps, got {length}")
    x_true, x_gen = x_true[:length], x_gen[:length]
    if not np.all(np.isfinite(x_gen)):
        return float("nan")
    p = power_spectrum(x_true, sigma)
    q = power_spectrum(x_gen, sigma)
    dist = _hellinger(p, q)
    # A constant series gives an all-zero spectrum: identical if both are constant, else maximal.
    empty_p, empty_q = p.sum(axis=0) == 0, q.sum(axis=0) == 0
    dist = np.where(empty_p | empty_q, np.where(empty_p & empty_q, 0.0, 1.0), dist)
    return float(np.mean(dist))


def _mtf_spectrum(x: np.ndarray, sigma: float, n_freqs: int) -> np.ndarray:
    """MTF ``psh.py``-style spectrum ``(n_freqs, N)`` of ``(B, T, N)``, averaged over B."""
    t = x.shape[1]
    spec = np.abs(np.fft.rfft(_zscore(x, axis=1), axis=1, norm="ortho")) ** 2 * 2.0 / t
    if sigma > 0:
        half = int(5 * sigma)
        grid = np.arange(-half, half + 1)
        kernel = np.exp(-0.5 * (grid / sigma) ** 2)
        kernel /= kernel.sum()
        # The full convolution cut to the spectrum's own bins: mode="same" returns the longer
        # of the two inputs, so a spectrum shorter than the kernel would grow to its length.
        spec = np.apply_along_axis(lambda s: np.convolve(s, kernel)[half : half + s.size], 1, spec)
    return spec.mean(axis=0)[:n_freqs]


def d_h_mtf(
    x_true: np.ndarray, x_gen: np.ndarray, *, sigma: float = 1.0, n_freqs: int = 100
) -> float:
    """``D_H`` as in the MTF repository's ``psh.py`` (short series, e.g. T = 360 fMRI).

    Standardise, ``P = |rfft(x, norm="ortho")|**2 * 2 / T`` (not renormalised), smooth with a
    Gaussian kernel of standard deviation ``sigma`` and length ``10 sigma + 1``, keep the first
    ``n_freqs`` bins, average spectra over trajectories, then ``sqrt(1 - trapezoid(sqrt(p q)))``
    per dimension, averaged over dimensions. As the spectra are not renormalised after the cut,
    identical inputs score ``sqrt(1 - trapezoid(p))`` > 0 unless all their power lies in the kept
    bins; for long series the cut makes it meaningless (train vs test of one Lorenz run scores 0.91
    at T = 10k): use :func:`d_h` there.

    Args:
        x_true: ``(T, N)`` or ``(B, T, N)``.
        x_gen: ``(T', N)`` or ``(B', T', N)``; truncated with ``x_true`` to the common length.
        sigma: kernel standard deviation in frequency bins.
        n_freqs: number of leading frequency bins kept.
    """
    xt, xg = as_numpy(x_true, "x_true"), as_numpy(x_gen, "x_gen")
    xt = xt[None] if xt.ndim == 2 else xt
    xg = xg[None] if xg.ndim == 2 else xg
    if xt.ndim != 3 or xg.ndim != 3 or xt.shape[-1] != xg.shape[-1]:
        raise ValueError(
            "x_true and x_gen must be (T, N) or (B, T, N) with equal N, got shapes "
            f"{xt.shape} and {xg.shape}"
        )
    length = min(xt.shape[1], xg.shape[1])
    if length < 2:
        raise ValueError(f"d_h_mtf needs at least 2 common time steps, got {length}")
    if not np.all(np.isfinite(xg[:, :length])):
        return float("nan")
    p = _mtf_spectrum(xt[:, :length], sigma, n_freqs)
    q = _mtf_spectrum(xg[:, :length], sigma, n_freqs)
    bc = trapezoid(np.sqrt(p * q), axis=0)
    return float(np.mean(np.sqrt(np.clip(1.0 - bc, 0.0, None))))
