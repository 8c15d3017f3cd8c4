"""Is a set of SBC ranks uniform? Two tests and a multiple-testing correction.

* The rank histogram's chi-square test (Talts et al. 2018): ranks 0..L grouped into bins, the
  counts against their expected counts under uniformity.
* The ECDF band test (Säilynoja, Bürkner & Vehtari 2022): the empirical CDF of the scaled ranks
  must stay inside a *simultaneous* band at every point at once. Its statistic is the smallest
  two-sided binomial tail probability over the evaluation points; its p-value and the band come
  from simulating uniform ranks of the same size (so the band is exact for discrete ranks).
* Over parameters (and both tests) the p-values are adjusted by Benjamini-Hochberg (scipy's
  false_discovery_control); a parameter is flagged when either adjusted p-value is below alpha.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats

__all__ = ["EcdfBand", "RankTest", "chi_square", "ecdf_band", "ecdf_test", "assess_ranks"]

ALPHA = 0.05
_SIMULATIONS = 2000


def histogram_bins(max_rank: int, replications: int) -> int:
    """About 5 expected per bin (chi-square's usual minimum), at most 20 bins, never more bins
    than rank values."""
    return int(max(2, min(20, replications // 5, max_rank + 1)))


def chi_square(ranks: np.ndarray, max_rank: int, bins: int | None = None) -> float:
    """p-value of the rank histogram against uniformity on 0..max_rank."""
    ranks = np.asarray(ranks, dtype=np.int64)
    if ranks.size < 2:
        return float("nan")
    b = bins or histogram_bins(max_rank, ranks.size)
    # Bin k holds the ranks r with floor(r * b / (L + 1)) == k: bins as equal as whole ranks allow.
    which = (ranks * b) // (max_rank + 1)
    counts = np.bincount(which, minlength=b)
    sizes = np.bincount((np.arange(max_rank + 1) * b) // (max_rank + 1), minlength=b)
    expected = ranks.size * sizes / (max_rank + 1)
    return float(stats.chisquare(counts, expected).pvalue)


def _points(max_rank: int) -> np.ndarray:
    """Where the ECDF of the ranks is compared: after each possible rank but the last."""
    return np.arange(1, max_rank + 1) / (max_rank + 1)


def _statistic(counts: np.ndarray, n: int, z: np.ndarray) -> np.ndarray:
    """min over z of 2 * min(P(X <= count), P(X >= count)) for X ~ Binomial(n, z); counts (..., Z)."""
    below = stats.binom.cdf(counts, n, z)
    above = stats.binom.sf(counts - 1, n, z)
    return np.min(2 * np.minimum(below, above), axis=-1)


def _counts(ranks: np.ndarray, max_rank: int) -> np.ndarray:
    """Number of ranks < k for k = 1..L (the ECDF at the evaluation points, times n): (..., L)."""
    ranks = np.asarray(ranks, dtype=np.int64)
    hist = np.apply_along_axis(np.bincount, -1, ranks, minlength=max_rank + 1) if ranks.ndim > 1 else (
        np.bincount(ranks, minlength=max_rank + 1)
    )
    return np.cumsum(hist, axis=-1)[..., :-1]


@lru_cache(maxsize=64)
def _null_statistics(n: int, max_rank: int, seed: int = 20180101) -> np.ndarray:
    """The statistic under uniform ranks, simulated once per (replications, max_rank)."""
    rng = np.random.default_rng(seed)
    ranks = rng.integers(0, max_rank + 1, size=(_SIMULATIONS, n))
    return np.sort(_statistic(_counts(ranks, max_rank), n, _points(max_rank)))


def ecdf_test(ranks: np.ndarray, max_rank: int) -> float:
    """p-value of the simultaneous ECDF test (small: the ECDF leaves the band somewhere)."""
    ranks = np.asarray(ranks, dtype=np.int64)
    n = ranks.size
    if n < 2:
        return float("nan")
    observed = _statistic(_counts(ranks, max_rank), n, _points(max_rank))
    null = _null_statistics(n, max_rank)
    # P(T <= t_obs) under uniformity, with the usual +1 so it is never 0.
    return float((np.searchsorted(null, observed, side="right") + 1) / (null.size + 1))


@dataclass(frozen=True)
class EcdfBand:
    """The 1 - alpha simultaneous band of the ECDF minus the uniform CDF, at points z."""

    z: np.ndarray
    lower: np.ndarray  # band of ECDF(z) - z
    upper: np.ndarray


def ecdf_band(n: int, max_rank: int, alpha: float = ALPHA) -> EcdfBand:
    null = _null_statistics(n, max_rank)
    gamma = float(np.quantile(null, alpha))  # the pointwise level that gives 1 - alpha jointly
    z = _points(max_rank)
    lower = stats.binom.ppf(gamma / 2, n, z) / n - z
    upper = stats.binom.ppf(1 - gamma / 2, n, z) / n - z
    return EcdfBand(z, lower, upper)


def ecdf_difference(ranks: np.ndarray, max_rank: int) -> tuple[np.ndarray, np.ndarray]:
    """(z, ECDF(z) - z) of the scaled ranks."""
    ranks = np.asarray(ranks, dtype=np.int64)
    z = _points(max_rank)
    return z, _counts(ranks, max_rank) / ranks.size - z


@dataclass(frozen=True)
class RankTest:
    parameter: str
    replications: int
    max_rank: int
    chi2_p: float
    ecdf_p: float
    chi2_p_adjusted: float
    ecdf_p_adjusted: float
    flagged: bool


def assess_ranks(ranks: dict[str, np.ndarray], max_rank: int, alpha: float = ALPHA) -> list[RankTest]:
    """Both tests for every parameter, Benjamini-Hochberg-adjusted over all of them together."""
    names = list(ranks)
    chi = np.array([chi_square(ranks[n], max_rank) for n in names])
    ecdf = np.array([ecdf_test(ranks[n], max_rank) for n in names])
    both = np.concatenate([chi, ecdf])
    adjusted = np.full_like(both, np.nan)
    finite = np.isfinite(both)
    if finite.any():
        adjusted[finite] = stats.false_discovery_control(both[finite], method="bh")
    chi_adj, ecdf_adj = adjusted[: len(names)], adjusted[len(names) :]
    return [
        RankTest(
            name,
            int(np.asarray(ranks[name]).size),
            max_rank,
            float(chi[k]),
            float(ecdf[k]),
            float(chi_adj[k]),
            float(ecdf_adj[k]),
            bool(chi_adj[k] < alpha or ecdf_adj[k] < alpha),
        )
        for k, name in enumerate(names)
    ]
