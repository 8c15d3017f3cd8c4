"""Predictions for the Language II outcomes: means and draws of the zero-inflated, hurdle,
beta-binomial, Beta2, Weibull and Categorical families, and of truncated outcomes.

`predict.py` adds MEANS and DRAWS to its tables (arguments in the .mlm order, each broadcast to
(draws, rows)) and calls `categorical_probabilities`, `truncated_mean` and `truncated_draw`.

Censored outcomes need nothing here: their expected value and their draws are those of the
uncensored outcome (what would be observed without censoring), as in the replicated outcomes
of the Stan program.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import special, stats

from mlmdsl.compiler import ast
from mlmdsl.compiler.ir import Likelihood


def _hurdle_count(r, s, hu, dist) -> np.ndarray:
    """Zero with probability hu, else a draw of `dist` conditioned on being positive (by the
    inverse CDF above P(0), so no rejection loop)."""
    p0 = dist.cdf(0)
    u = p0 + (1 - p0) * r.random(s)
    positive = np.maximum(dist.ppf(np.minimum(u, 1 - 1e-12)), 1)
    return np.where(r.random(s) < hu, 0.0, positive)


def _nbinom(mu, phi):
    return stats.nbinom(phi, phi / (phi + mu))


MEANS: dict[str, Callable[..., Any]] = {
    "ZIPoisson": lambda zi, lam: (1 - zi) * lam,
    "ZINegBinomial": lambda zi, mu, phi: (1 - zi) * mu,
    "ZIBinomial": lambda zi, n, p: (1 - zi) * n * p,
    "HurdlePoisson": lambda hu, lam: (1 - hu) * lam / -np.expm1(-lam),
    "HurdleNegBinomial": lambda hu, mu, phi: (1 - hu) * mu / (1 - (phi / (mu + phi)) ** phi),
    "HurdleLogNormal": lambda hu, mu, sigma: (1 - hu) * np.exp(mu + sigma**2 / 2),
    "HurdleGamma": lambda hu, shape, rate: (1 - hu) * shape / rate,
    "BetaBinomial": lambda n, pbar, theta: n * pbar,
    "Beta2": lambda pbar, theta: pbar,
    "Weibull": lambda k, scale: scale * special.gamma(1 + 1 / k),
}

DRAWS: dict[str, Callable[..., Any]] = {
    "ZIPoisson": lambda r, s, zi, lam: np.where(r.random(s) < zi, 0.0, r.poisson(lam, s)),
    "ZINegBinomial": lambda r, s, zi, mu, phi: np.where(r.random(s) < zi, 0.0, r.poisson(r.gamma(phi, mu / phi, s))),
    "ZIBinomial": lambda r, s, zi, n, p: np.where(
        r.random(s) < zi, 0.0, r.binomial(n.astype(np.int64), np.clip(p, 0, 1), s)
    ),
    "HurdlePoisson": lambda r, s, hu, lam: _hurdle_count(r, s, hu, stats.poisson(lam)),
    "HurdleNegBinomial": lambda r, s, hu, mu, phi: _hurdle_count(r, s, hu, _nbinom(mu, phi)),
    "HurdleLogNormal": lambda r, s, hu, mu, sigma: np.where(
        r.random(s) < hu, 0.0, np.exp(mu + sigma * r.standard_normal(s))
    ),
    "HurdleGamma": lambda r, s, hu, shape, rate: np.where(r.random(s) < hu, 0.0, r.gamma(shape, 1 / rate, s)),
    "BetaBinomial": lambda r, s, n, pbar, theta: r.binomial(
        n.astype(np.int64), r.beta(pbar * theta, (1 - pbar) * theta, s), s
    ),
    "Beta2": lambda r, s, pbar, theta: r.beta(pbar * theta, (1 - pbar) * theta, s),
    "Weibull": lambda r, s, k, scale: scale * r.weibull(k, s),
}


def categorical_probabilities(scores: list[np.ndarray] | None, simplex: Any, shape) -> np.ndarray:
    """P(y = k), (draws, rows, K): the softmax of the scores, the fixed simplex (K numbers), or
    the draws of an estimated simplex ((draws, K), the same for every row)."""
    if scores is not None:
        stacked = np.stack([np.broadcast_to(np.asarray(s, dtype=float), shape) for s in scores], axis=-1)
        return special.softmax(stacked, axis=-1)
    assert simplex is not None
    p = np.asarray(simplex, dtype=float)
    if p.ndim == 2:  # one simplex per draw
        p = p[:, None, :]
    return np.broadcast_to(p, (*shape, p.shape[-1])).copy()


def categorical_draw(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    u = rng.random((*probs.shape[:-1], 1))
    return (u > np.cumsum(probs, axis=-1)[..., :-1]).sum(axis=-1) + 1.0


# ---- truncated outcomes --------------------------------------------------------------------

# The families that may be truncated, as SciPy distributions of the .mlm arguments.
SCIPY_CDF_FAMILIES: dict[str, Callable[..., Any]] = {
    "Normal": lambda mu, sigma: stats.norm(mu, sigma),
    "StudentT": lambda nu, mu, sigma: stats.t(nu, mu, sigma),
    "Cauchy": lambda mu, sigma: stats.cauchy(mu, sigma),
    "Logistic": lambda mu, sigma: stats.logistic(mu, sigma),
    "Exponential": lambda rate: stats.expon(scale=1 / rate),
    "Gamma": lambda a, b: stats.gamma(a, scale=1 / b),
    "LogNormal": lambda mu, sigma: stats.lognorm(sigma, scale=np.exp(mu)),
    "Beta": lambda a, b: stats.beta(a, b),
    "Weibull": lambda k, scale: stats.weibull_min(k, scale=scale),
    "Poisson": lambda lam: stats.poisson(lam),
    "NegBinomial": _nbinom,
}
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(64)


def cdf_at_bounds(dist, lower: float | None, upper: float | None, discrete: bool) -> tuple[np.ndarray, np.ndarray]:
    """F just below the lower bound and F at the upper bound (a count's lower bound is allowed)."""
    lo = 0.0 if lower is None else dist.cdf(lower - 1 if discrete else lower)
    hi = 1.0 if upper is None else dist.cdf(upper)
    return np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)


def truncation_bounds(lk: Likelihood, evaluate: Callable[[ast.Expr], Any]) -> tuple[Any, Any]:
    """(lower, upper) of a truncated outcome: the numbers written (None where omitted), or the
    bound column's values per row (`T[L[i], U[i]]`), through `evaluate` (the caller's rows)."""
    t = lk.stmt.truncation
    out: list[Any] = []
    for number, column, expr in (
        (lk.lower, lk.lower_column, t.lower if t is not None else None),
        (lk.upper, lk.upper_column, t.upper if t is not None else None),
    ):
        if column is not None and expr is not None:
            out.append(np.asarray(evaluate(expr), dtype=float))
        else:
            out.append(float(number) if number is not None else None)
    return out[0], out[1]


def truncated_draw(name: str, discrete: bool, args: list[np.ndarray], lower, upper, rng, shape) -> np.ndarray:
    """Draws of the family restricted to [lower, upper], by its inverse CDF."""
    dist = SCIPY_CDF_FAMILIES[name](*args)
    lo, hi = cdf_at_bounds(dist, lower, upper, discrete)
    u = lo + (hi - lo) * rng.random(shape)
    value = dist.ppf(np.clip(u, 1e-15, 1 - 1e-15))
    return np.clip(value, -np.inf if lower is None else lower, np.inf if upper is None else upper)


def truncated_mean(name: str, discrete: bool, args: list[np.ndarray], lower, upper) -> np.ndarray:
    """E[y | lower <= y <= upper]: a sum over the counts in range for a count family, else
    64-point Gauss-Legendre quadrature of the quantile function between the bounds' CDFs."""
    dist = SCIPY_CDF_FAMILIES[name](*args)
    lo, hi = cdf_at_bounds(dist, lower, upper, discrete)
    if discrete:
        # Bounds may differ by row (T[L[i], U[i]]): sum over every count any row allows, each
        # row's terms masked to its own range.
        low = 0.0 if lower is None else lower
        top = upper if upper is not None else float(np.nanmax(dist.ppf(1 - 1e-10)))
        ks = np.arange(int(np.min(low)), int(np.max(top)) + 1, dtype=float)
        ks = ks.reshape((-1,) + (1,) * np.broadcast(lo, hi).ndim)
        pmf = np.where((ks >= low) & (ks <= top), dist.pmf(ks), 0.0)
        return (ks * pmf).sum(axis=0) / (hi - lo)
    t = (_NODES + 1) / 2
    total = np.zeros(np.broadcast(lo, hi).shape)
    for node, weight in zip(t, _WEIGHTS, strict=True):
        total = total + weight / 2 * dist.ppf(lo + (hi - lo) * node)
    return total
