"""Outcome families for predictions: the inverse links, each family's mean (epred), its location
(the centre of a group-level prior), and a draw of the outcome (response) per family."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import special

from mlmdsl.compiler.families import Family
from mlmdsl.posterior import families_extra as extra
from mlmdsl.posterior.errors import PredictionError

__all__ = ["INVERSE_LINKS", "family_draw", "family_location", "family_mean", "mean_slot", "ordered_probabilities"]

INVERSE_LINKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda x: x,
    "logit": special.expit,
    "log": np.exp,
    "probit": special.ndtr,
    "cloglog": lambda x: -np.expm1(-np.exp(x)),
}



def mean_slot(family: Family) -> int:
    """The argument carrying the linear predictor: a location, else a probability or rate."""
    if family.mean_index is not None:  # ZIPoisson(zi, lambda): lambda, not the probability zi
        return family.mean_index
    kinds = [kind for _, kind in family.args]
    for wanted in ("loc", "prob", "positive"):
        if wanted in kinds:
            return kinds.index(wanted)
    return 0


def family_mean(family: Family, args: list[Any]) -> np.ndarray:
    """The expected value of an outcome; per-category probabilities for OrderedLogistic."""
    name = family.name
    if name == "OrderedLogistic":
        return ordered_probabilities(args[0], args[1])
    fn = _MEANS.get(name)
    if fn is None:
        raise PredictionError(f"epred is not available for {name} outcomes yet")
    with np.errstate(all="ignore"):
        return np.asarray(fn(*args), dtype=float)


def family_location(family: Family, args: list[np.ndarray]) -> np.ndarray:
    """The centre of a group-level prior: its location argument, or its mean."""
    kinds = [kind for _, kind in family.args]
    if family.location_scale and "loc" in kinds:
        return args[kinds.index("loc")]
    return family_mean(family, args)


_MEANS: dict[str, Callable[..., Any]] = {
    "Normal": lambda mu, sigma: mu,
    "StudentT": lambda nu, mu, sigma: np.where(nu > 1, mu, np.nan),
    "Cauchy": lambda mu, sigma: mu,  # no mean: its location (median) stands in
    "Logistic": lambda mu, sigma: mu,
    "LogNormal": lambda mu, sigma: np.exp(mu + sigma**2 / 2),
    "Gamma": lambda alpha, beta: alpha / beta,
    "Exponential": lambda rate: 1 / rate,
    "Beta": lambda a, b: a / (a + b),
    "Uniform": lambda lower, upper: (lower + upper) / 2,
    "HalfNormal": lambda sigma: sigma * np.sqrt(2 / np.pi),
    "Bernoulli": lambda p: p,
    "Binomial": lambda n, p: n * p,
    "Poisson": lambda rate: rate,
    "NegBinomial": lambda mu, phi: mu,
    **extra.MEANS,  # Language II families (families_extra.py)
}


def ordered_probabilities(eta: Any, cutpoints: Any) -> np.ndarray:
    """P(y = k) for k = 1..K under Stan's ordered_logistic(eta, c): (draws, rows, K)."""
    eta = np.asarray(eta, dtype=float)
    cuts = np.asarray(cutpoints, dtype=float)
    if cuts.ndim != 2:
        raise PredictionError("OrderedLogistic needs one vector of cutpoints per draw")
    above = special.expit(eta[..., None] - cuts[:, None, :])  # P(y > k), k = 1..K-1
    ones = np.ones_like(above[..., :1])
    return np.concatenate([ones, above], axis=-1) - np.concatenate([above, 0 * ones], axis=-1)


def family_draw(family: Family, args: list[Any], rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """One draw of the family per element of `shape`, with arguments broadcast to it."""
    name = family.name
    if name == "OrderedLogistic":
        probs = ordered_probabilities(args[0], args[1])
        u = rng.random((*probs.shape[:-1], 1))
        return (u > np.cumsum(probs, axis=-1)[..., :-1]).sum(axis=-1) + 1.0
    fn = _DRAWS.get(name)
    if fn is None:
        raise PredictionError(f"drawing from {name} is not supported yet")
    full = [np.broadcast_to(np.asarray(a, dtype=float), shape) for a in args]
    with np.errstate(all="ignore"):
        return np.asarray(fn(rng, shape, *full), dtype=float)


_DRAWS: dict[str, Callable[..., Any]] = {
    "Normal": lambda r, s, mu, sigma: mu + sigma * r.standard_normal(s),
    "StudentT": lambda r, s, nu, mu, sigma: mu + sigma * r.standard_t(nu, s),
    "Cauchy": lambda r, s, mu, sigma: mu + sigma * r.standard_cauchy(s),
    "Logistic": lambda r, s, mu, sigma: r.logistic(mu, sigma, s),
    "LogNormal": lambda r, s, mu, sigma: np.exp(mu + sigma * r.standard_normal(s)),
    "Gamma": lambda r, s, alpha, beta: r.gamma(alpha, 1 / beta, s),
    "Exponential": lambda r, s, rate: r.exponential(1 / rate, s),
    "Beta": lambda r, s, a, b: r.beta(a, b, s),
    "Uniform": lambda r, s, lower, upper: r.uniform(lower, upper, s),
    "HalfNormal": lambda r, s, sigma: np.abs(sigma * r.standard_normal(s)),
    "HalfCauchy": lambda r, s, sigma: np.abs(sigma * r.standard_cauchy(s)),
    "HalfStudentT": lambda r, s, nu, sigma: np.abs(sigma * r.standard_t(nu, s)),
    "Bernoulli": lambda r, s, p: (r.random(s) < p).astype(float),
    "Binomial": lambda r, s, n, p: r.binomial(n.astype(np.int64), np.clip(p, 0, 1), s),
    "Poisson": lambda r, s, rate: r.poisson(rate, s),
    # Stan's neg_binomial_2(mu, phi) is a Poisson whose rate is Gamma(phi, phi / mu).
    "NegBinomial": lambda r, s, mu, phi: r.poisson(r.gamma(phi, mu / phi, s)),
    **extra.DRAWS,  # Language II families (families_extra.py)
}
