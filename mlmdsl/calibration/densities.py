"""Log densities of outcomes: K-fold's held-out rows and the log-likelihood SBC ranks.

Each is the log_lik the Stan program writes for one row (lower/family_functions.py,
lower/families_extra.py), computed with SciPy from the same .mlm arguments:

* a family SciPy has is one frozen distribution of the .mlm arguments: the table the predictions
  use for truncated draws (`posterior.families_extra.SCIPY_CDF_FAMILIES`, Stan's CDF families), plus the
  families that are never censored or truncated (Bernoulli, Binomial, and the mean-precision
  BetaBinomial and Beta2);
* a zero-inflated family mixes a structural zero with its base family, `log_mix(zi, 0, base)` at
  y = 0 and `log1m(zi) + base` above it; a hurdle family is `log(hu)` at zero and
  `log1m(hu) + base - log P(base > 0)` above it (a continuous base puts no mass at 0, so nothing
  is subtracted), as brms writes them;
* OrderedLogistic and Categorical are the log of the category's probability;
* `| censored(c[i])`: the CDF term Stan adds for a censored row (a count right-censored at y
  is "y or more": log P(Y >= y));
* `T[L, U]`: the density over P(L <= y <= U) (a count's L included), as the program's log_lik.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats

from mlmdsl.compiler.families import Family
from mlmdsl.compiler.ir import Likelihood

# The predictions' SciPy table and truncation bounds: one definition of each family's distribution.
from mlmdsl.posterior.families_extra import SCIPY_CDF_FAMILIES as _TRUNCATABLE
from mlmdsl.posterior.families_extra import cdf_at_bounds as _truncation_cdfs
from mlmdsl.posterior.outcomes import ordered_probabilities

__all__ = ["DensityError", "log_category", "log_density", "row_log_density", "scipy_distribution"]


class DensityError(ValueError):
    """A family (or a use of one) whose log density calibration cannot compute."""


_SCIPY: dict[str, Callable[..., Any]] = {
    **_TRUNCATABLE,
    "Bernoulli": lambda p: stats.bernoulli(p),
    "Binomial": lambda n, p: stats.binom(n, p),
    # rethinking's dbetabinom and dbeta2: mean pbar and precision theta.
    "BetaBinomial": lambda n, pbar, theta: stats.betabinom(n, pbar * theta, (1 - pbar) * theta),
    "Beta2": lambda pbar, theta: stats.beta(pbar * theta, (1 - pbar) * theta),
}

# Zero-inflated and hurdle families: the first argument is the probability of the zero part,
# the rest are the base family's arguments in its own order.
_ZERO_INFLATED = {"ZIPoisson": "Poisson", "ZINegBinomial": "NegBinomial", "ZIBinomial": "Binomial"}
_HURDLE = {
    "HurdlePoisson": "Poisson",
    "HurdleNegBinomial": "NegBinomial",
    "HurdleLogNormal": "LogNormal",
    "HurdleGamma": "Gamma",
}


def scipy_distribution(name: str, args: list[np.ndarray]) -> Any:
    """The family as a frozen SciPy distribution of its .mlm arguments (broadcast together)."""
    make = _SCIPY.get(name)
    if make is None:
        raise DensityError(f"the log density of {name} outcomes is not supported")
    return make(*args)


def _log_pmf_or_pdf(dist: Any, y: np.ndarray, discrete: bool) -> np.ndarray:
    return dist.logpmf(y) if discrete else dist.logpdf(y)


def log_category(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log P(y) for categories coded 1..K, from probabilities (draws, rows, K)."""
    codes = np.broadcast_to(np.asarray(y, dtype=np.int64) - 1, probs.shape[:-1])
    return np.log(np.take_along_axis(probs, codes[..., None], axis=-1)[..., 0])


def log_density(family: Family, args: list[np.ndarray], y: np.ndarray) -> np.ndarray:
    """log p(y | args) elementwise, neither censored nor truncated: (draws, N) for arguments
    (draws, N) and outcomes (N,); OrderedLogistic's cutpoints are (draws, K - 1), Categorical's
    one argument is its category probabilities (draws, N, K)."""
    name = family.name
    y = np.asarray(y, dtype=float)
    with np.errstate(all="ignore"):
        if name == "OrderedLogistic":
            return log_category(ordered_probabilities(args[0], args[1]), y)
        if name == "Categorical":
            return log_category(args[0], y)
        if name in _ZERO_INFLATED:
            zi, base = args[0], scipy_distribution(_ZERO_INFLATED[name], args[1:])
            positive = np.log1p(-zi) + base.logpmf(y)
            return np.where(y == 0, np.logaddexp(np.log(zi), positive), positive)
        if name in _HURDLE:
            hu, base_name = args[0], _HURDLE[name]
            base = scipy_distribution(base_name, args[1:])
            discrete = family.discrete
            positive = np.log1p(-hu) + _log_pmf_or_pdf(base, y, discrete)
            if discrete:
                positive = positive - base.logsf(0)  # the base given that it is not zero
            return np.where(y == 0, np.log(hu), positive)
        return np.asarray(_log_pmf_or_pdf(scipy_distribution(name, args), y, family.discrete), dtype=float)


def _censored(family: Family, args: list[np.ndarray], y: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Stan's censored terms: the density where c = 0, log P(Y >= y) where c = 1 (right-censored;
    for a continuous Y that is log P(Y > y)), log P(Y <= y) where c = -1 (left-censored)."""
    dist = scipy_distribution(family.name, args)
    with np.errstate(all="ignore"):
        observed = log_density(family, args, y)
        right = dist.logsf(y - 1) if family.discrete else dist.logsf(y)
        left = dist.logcdf(y)
    return np.where(codes == 0, observed, np.where(codes == 1, right, left))


def _truncated(family: Family, args: list[np.ndarray], y: np.ndarray, low: Any, high: Any) -> np.ndarray:
    """The density over P(L <= Y <= U), as the program's log_lik writes it. A bound is None
    (omitted), a number, or one value per row (`T[L[i], U[i]]` from a data column)."""
    dist = scipy_distribution(family.name, args)
    below, at_top = _truncation_cdfs(dist, low, high, family.discrete)
    inside = np.ones(np.shape(y), dtype=bool)
    if low is not None:
        inside &= y >= low
    if high is not None:
        inside &= y <= high
    with np.errstate(all="ignore"):
        value = log_density(family, args, y) - np.log(at_top - below)
    return np.where(inside, value, -np.inf)


def row_log_density(
    lk: Likelihood,
    args: list[np.ndarray],
    y: np.ndarray,
    censoring: np.ndarray | None = None,
    bounds: tuple[Any, Any] | None = None,
) -> np.ndarray:
    """The log_lik of each row of likelihood `lk`: (draws, N). `censoring` holds the program's
    -1/0/1 codes per row (BoundData.stan_data[lk.censoring]) for a censored likelihood; `bounds`
    a truncated one's (lower, upper) from posterior.families_extra.truncation_bounds (numbers, or
    a bound column's values per row)."""
    y = np.asarray(y, dtype=float)
    if lk.censoring is not None:
        if censoring is None:
            raise DensityError(f"`{lk.outcome}` is censored: its log density needs the censoring codes")
        return _censored(lk.family, args, y, np.asarray(censoring))
    if lk.truncated:
        if bounds is None:
            raise DensityError(f"`{lk.outcome}` is truncated: its log density needs the bounds")
        return _truncated(lk.family, args, y, *bounds)
    return log_density(lk.family, args, y)
