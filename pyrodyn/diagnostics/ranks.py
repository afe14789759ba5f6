"""Rank statistics of true values among posterior draws, and their uniformity test.

The arithmetic of simulation-based calibration (Talts, Betancourt, Simpson, Vehtari and Gelman,
"Validating Bayesian inference algorithms with simulation-based calibration", arXiv:1804.06788,
2018): for ``z*`` drawn from the prior, data from the likelihood, and ``L`` exact posterior
draws, the number of draws below ``z*`` is uniform on ``{0, .., L}``. Too narrow a posterior
gives U-shaped rank histograms, too wide a hump, a biased one a slope.

Uniformity is tested per coordinate with Pearson's chi-square on the ranks binned into
``num_bins`` bins of (as nearly as possible) equal probability, the expected counts following
each bin's width; the p-value comes from ``scipy.stats.chi2`` with ``num_bins - 1`` degrees of
freedom. :meth:`SBCResult.rejected` applies a Bonferroni correction over the coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from torch import Tensor


@dataclass
class SBCResult:
    """Ranks of simulated latents among posterior draws, and their uniformity tests.

    Attributes:
        ranks: ``(N, D)`` integer ranks in ``{0, .., L}`` (N simulations, D coordinates).
        num_draws: L, the posterior draws per simulation.
        names: ``(D,)`` coordinate names, ``"<site>[d]"``.
        steps: ``(N,)`` the time step ranked in each simulation (None: no sequence site).
        num_bins: bins of the chi-square test.
        chi2: ``(D,)`` Pearson chi-square statistics.
        p_values: ``(D,)`` their p-values (``num_bins - 1`` degrees of freedom).
    """

    ranks: np.ndarray
    num_draws: int
    names: list[str]
    steps: np.ndarray | None
    num_bins: int
    chi2: np.ndarray
    p_values: np.ndarray

    @property
    def num_simulations(self) -> int:
        """N."""
        return int(self.ranks.shape[0])

    def histogram(self, num_bins: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Rank histograms: counts ``(D, bins)`` and rank bin edges ``(bins + 1,)``.

        Bin ``j`` holds the ranks ``edges[j] <= r < edges[j + 1]``.
        """
        bins = self.num_bins if num_bins is None else _check_bins(num_bins, self.num_draws)
        edges = _edges(self.num_draws, bins)
        counts = np.stack([np.histogram(r, bins=edges)[0] for r in self.ranks.T])
        return counts, edges

    def expected_band(
        self, level: float = 0.99, num_bins: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-bin expected count and its central binomial ``level`` interval under uniformity.

        Returns:
            ``(expected, low, high)``, each ``(bins,)``: the grey band of Talts et al.'s rank
            histograms.
        """
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must lie in (0, 1), got {level}")
        bins = self.num_bins if num_bins is None else _check_bins(num_bins, self.num_draws)
        prob = np.diff(_edges(self.num_draws, bins)) / (self.num_draws + 1)
        n = self.num_simulations
        tail = (1.0 - level) / 2.0
        return n * prob, stats.binom.ppf(tail, n, prob), stats.binom.ppf(1.0 - tail, n, prob)

    def rejected(self, alpha: float = 0.01) -> np.ndarray:
        """``(D,)`` bool: uniformity rejected at family-wise level ``alpha`` (Bonferroni)."""
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
        return self.p_values < alpha / len(self.p_values)

    def summary(self, alpha: float = 0.01) -> dict:
        """Plain-data summary (for ``diagnostics.json``)."""
        return {
            "num_simulations": self.num_simulations,
            "num_draws": int(self.num_draws),
            "num_bins": int(self.num_bins),
            "alpha": float(alpha),
            "min_p_value": float(self.p_values.min()),
            "num_rejected": int(self.rejected(alpha).sum()),
            "per_coordinate": [
                {"name": n, "chi2": float(c), "p_value": float(p), "rejected": bool(r)}
                for n, c, p, r in zip(self.names, self.chi2, self.p_values, self.rejected(alpha))
            ],
        }


def default_bins(num_simulations: int, num_draws: int) -> int:
    """Bins of the chi-square test: at most 20, at least 5 expected ranks per bin.

    Prefers a divisor of ``L + 1`` (bins of equal probability); e.g. 20 for 200 x 99.
    """
    cap = max(2, min(20, num_simulations // 5, num_draws + 1))
    divisors = [b for b in range(2, cap + 1) if (num_draws + 1) % b == 0]
    return max(divisors) if divisors else cap


def _check_bins(num_bins: int, num_draws: int) -> int:
    if not isinstance(num_bins, (int, np.integer)) or not 2 <= num_bins <= num_draws + 1:
        raise ValueError(
            f"num_bins must be an integer in [2, L + 1 = {num_draws + 1}], got {num_bins!r}"
        )
    return int(num_bins)


def _edges(num_draws: int, num_bins: int) -> np.ndarray:
    """Integer rank edges of ``num_bins`` bins over ``{0, .., L}`` (sizes differ by <= 1)."""
    return np.floor(np.linspace(0, num_draws + 1, num_bins + 1) + 1e-9).astype(np.int64)


def rank_statistics(
    truth: np.ndarray | Tensor,
    draws: np.ndarray | Tensor,
    *,
    generator: np.random.Generator | None = None,
) -> np.ndarray:
    """Rank of each true value among its draws: ``(N, D)`` integers in ``{0, .., L}``.

    The rank counts the draws below the true value; ties (discrete latents) are broken at
    random, so ranks stay uniform for the exact posterior.

    Args:
        truth: ``(N, D)`` true values.
        draws: ``(L, N, D)`` posterior draws.
        generator: numpy generator for the tie breaks.
    """
    z = np.asarray(truth.detach().cpu() if isinstance(truth, Tensor) else truth, np.float64)
    d = np.asarray(draws.detach().cpu() if isinstance(draws, Tensor) else draws, np.float64)
    if z.ndim != 2 or d.ndim != 3 or d.shape[1:] != z.shape:
        raise ValueError(
            f"truth must be (N, D) and draws (L, N, D) with the same N, D; got "
            f"{z.shape} and {d.shape}"
        )
    if not (np.isfinite(z).all() and np.isfinite(d).all()):
        raise ValueError("truth and draws must be finite")
    below = (d < z).sum(0)
    ties = (d == z).sum(0)
    if ties.any():
        rng = np.random.default_rng() if generator is None else generator
        below = below + np.floor(rng.random(ties.shape) * (ties + 1)).astype(below.dtype)
    return below.astype(np.int64)


def uniformity_test(
    ranks: np.ndarray, num_draws: int, num_bins: int | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Pearson chi-square test of uniform ranks per column.

    Args:
        ranks: ``(N, D)`` ranks in ``{0, .., L}``.
        num_draws: L.
        num_bins: bins (default :func:`default_bins`).

    Returns:
        ``(chi2, p_values, num_bins)``, the first two ``(D,)``.
    """
    ranks = np.asarray(ranks)
    if ranks.ndim != 2 or ranks.shape[0] < 1:
        raise ValueError(f"ranks must be (N, D) with N >= 1, got shape {ranks.shape}")
    if ranks.min() < 0 or ranks.max() > num_draws:
        raise ValueError(f"ranks must lie in [0, L = {num_draws}]")
    n = ranks.shape[0]
    bins = default_bins(n, num_draws) if num_bins is None else _check_bins(num_bins, num_draws)
    edges = _edges(num_draws, bins)
    expected = n * np.diff(edges) / (num_draws + 1)
    observed = np.stack([np.histogram(r, bins=edges)[0] for r in ranks.T])
    chi2 = ((observed - expected) ** 2 / expected).sum(-1)
    return chi2, stats.chi2.sf(chi2, bins - 1), bins


def sbc_from_draws(
    truth: np.ndarray | Tensor,
    draws: np.ndarray | Tensor,
    *,
    names: list[str] | None = None,
    steps: np.ndarray | None = None,
    num_bins: int | None = None,
    seed: int = 0,
) -> SBCResult:
    """SBC from true values ``(N, D)`` and posterior draws ``(L, N, D)`` (already one step each).

    Raises:
        ValueError: fewer than 10 simulations or shapes that do not match.
    """
    shape = tuple(np.shape(truth))
    if len(shape) != 2 or shape[0] < 10:
        raise ValueError(
            f"SBC needs at least 10 simulations for a chi-square test of uniformity, got truth "
            f"of shape {shape}"
        )
    ranks = rank_statistics(truth, draws, generator=np.random.default_rng(seed))
    num_draws = int(np.shape(draws)[0])
    chi2, p, bins = uniformity_test(ranks, num_draws, num_bins)
    cols = names if names is not None else [f"z[{d}]" for d in range(ranks.shape[1])]
    return SBCResult(ranks, num_draws, list(cols), steps, bins, chi2, p)


__all__ = [
    "SBCResult",
    "default_bins",
    "rank_statistics",
    "sbc_from_draws",
    "uniformity_test",
]
