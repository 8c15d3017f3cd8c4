"""Calibration's log densities (mlmdsl/calibration/densities.py) for every outcome family,
censoring and truncation: the held-out log density K-fold uses and the log-likelihood SBC ranks.

Three checks, each a table:
* at fixed parameter values, the density equals a reference written out here by hand (closed
  forms, or SciPy's base distributions composed differently from densities.py);
* on a small fit, the density at every posterior draw equals the `log_lik` the Stan program
  itself wrote for that draw: the two definitions of each family (Stan's and calibration's)
  agree, including the links and derived quantities on the way;
* `mlmdsl.kfold` and `mlmdsl.sbc` run on a Language II family through the public API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import mlmdsl
from mlmdsl.calibration.kfold import held_out_log_lik
from mlmdsl.calibration.simulate import Simulator
from tests.test_censoring import CATS, COUNTS, POISSON_T, TRUNCATED
from tests.test_families_recovery import CASES


def _nb_logpmf(y, mu, phi):
    """Stan's neg_binomial_2, written out."""
    return (special.gammaln(y + phi) - special.gammaln(phi) - special.gammaln(y + 1)
            + phi * np.log(phi / (phi + mu)) + y * np.log(mu / (phi + mu)))


def _binom_logpmf(y, n, p):
    return special.gammaln(n + 1) - special.gammaln(y + 1) - special.gammaln(n - y + 1) + y * np.log(p) + (
        n - y) * np.log1p(-p)


Reference = Callable[[pd.DataFrame, dict[str, Any]], np.ndarray]

# name -> (model, data, parameter values, reference log density per row)
FIXED: dict[str, tuple[str, dict[str, list], dict[str, Any], Reference]] = {
    "ZIPoisson": (
        "y[i] ~ ZIPoisson(zi, lambda)\nzi ~ Beta(2, 2)\nlambda ~ Exponential(1)\n",
        {"y": [0, 0, 1, 3, 7]}, {"zi": 0.3, "lambda": 2.5},
        lambda d, p: np.where(d.y == 0, np.log(p["zi"] + (1 - p["zi"]) * np.exp(-p["lambda"])),
                              np.log(1 - p["zi"]) + d.y * np.log(p["lambda"]) - p["lambda"]
                              - special.gammaln(d.y + 1)),
    ),
    "ZINegBinomial": (
        "y[i] ~ ZINegBinomial(zi, mu, phi)\nzi ~ Beta(2, 2)\nmu ~ Exponential(1)\nphi ~ Exponential(1)\n",
        {"y": [0, 2, 5, 11]}, {"zi": 0.25, "mu": 3.0, "phi": 1.7},
        lambda d, p: np.where(
            d.y == 0, np.log(p["zi"] + (1 - p["zi"]) * (p["phi"] / (p["phi"] + p["mu"])) ** p["phi"]),
            np.log(1 - p["zi"]) + _nb_logpmf(d.y, p["mu"], p["phi"])),
    ),
    "ZIBinomial": (
        "y[i] ~ ZIBinomial(zi, n[i], q)\nzi ~ Beta(2, 2)\nq ~ Beta(2, 2)\n",
        {"y": [0, 0, 3, 9], "n": [10, 4, 10, 12]}, {"zi": 0.4, "q": 0.6},
        lambda d, p: np.where(d.y == 0, np.log(p["zi"] + (1 - p["zi"]) * (1 - p["q"]) ** d.n),
                              np.log(1 - p["zi"]) + _binom_logpmf(d.y, d.n, p["q"])),
    ),
    "HurdlePoisson": (
        "y[i] ~ HurdlePoisson(hu, lambda)\nhu ~ Beta(2, 2)\nlambda ~ Exponential(1)\n",
        {"y": [0, 1, 2, 6]}, {"hu": 0.35, "lambda": 1.8},
        lambda d, p: np.where(d.y == 0, np.log(p["hu"]),
                              np.log(1 - p["hu"]) + stats.poisson.logpmf(d.y, p["lambda"])
                              - np.log(1 - np.exp(-p["lambda"]))),
    ),
    "HurdleNegBinomial": (
        "y[i] ~ HurdleNegBinomial(hu, mu, phi)\nhu ~ Beta(2, 2)\nmu ~ Exponential(1)\nphi ~ Exponential(1)\n",
        {"y": [0, 1, 4, 13]}, {"hu": 0.2, "mu": 2.2, "phi": 0.9},
        lambda d, p: np.where(d.y == 0, np.log(p["hu"]),
                              np.log(1 - p["hu"]) + _nb_logpmf(d.y, p["mu"], p["phi"])
                              - np.log(1 - (p["phi"] / (p["phi"] + p["mu"])) ** p["phi"])),
    ),
    "HurdleLogNormal": (
        "y[i] ~ HurdleLogNormal(hu, mu, sigma)\nhu ~ Beta(2, 2)\nmu ~ Normal(0, 1)\nsigma ~ Exponential(1)\n",
        {"y": [0.0, 0.4, 1.0, 5.5]}, {"hu": 0.3, "mu": 0.2, "sigma": 0.8},
        lambda d, p: np.where(d.y == 0, np.log(p["hu"]),
                              np.log(1 - p["hu"]) + stats.norm.logpdf(np.log(d.y.where(d.y > 0, 1)), p["mu"],
                                                                      p["sigma"]) - np.log(d.y.where(d.y > 0, 1))),
    ),
    "HurdleGamma": (
        "y[i] ~ HurdleGamma(hu, k, r)\nhu ~ Beta(2, 2)\nk ~ Exponential(1)\nr ~ Exponential(1)\n",
        {"y": [0.0, 0.3, 2.0, 7.0]}, {"hu": 0.45, "k": 2.5, "r": 0.7},
        lambda d, p: np.where(d.y == 0, np.log(p["hu"]),
                              np.log(1 - p["hu"]) + p["k"] * np.log(p["r"]) - special.gammaln(p["k"])
                              + (p["k"] - 1) * np.log(d.y.where(d.y > 0, 1)) - p["r"] * d.y),
    ),
    "BetaBinomial": (
        "y[i] ~ BetaBinomial(n[i], pbar, theta)\npbar ~ Beta(2, 2)\ntheta ~ Exponential(0.2)\n",
        {"y": [0, 3, 7, 12], "n": [5, 10, 10, 12]}, {"pbar": 0.4, "theta": 6.0},
        lambda d, p: (special.gammaln(d.n + 1) - special.gammaln(d.y + 1) - special.gammaln(d.n - d.y + 1)
                      + special.betaln(d.y + p["pbar"] * p["theta"], d.n - d.y + (1 - p["pbar"]) * p["theta"])
                      - special.betaln(p["pbar"] * p["theta"], (1 - p["pbar"]) * p["theta"])),
    ),
    "Beta2": (
        "y[i] ~ Beta2(pbar, theta)\npbar ~ Beta(2, 2)\ntheta ~ Exponential(0.2)\n",
        {"y": [0.05, 0.5, 0.93]}, {"pbar": 0.3, "theta": 4.0},
        lambda d, p: ((p["pbar"] * p["theta"] - 1) * np.log(d.y) + ((1 - p["pbar"]) * p["theta"] - 1)
                      * np.log1p(-d.y) - special.betaln(p["pbar"] * p["theta"], (1 - p["pbar"]) * p["theta"])),
    ),
    "Weibull": (
        "y[i] ~ Weibull(k, s)\nk ~ Exponential(0.5)\ns ~ Exponential(0.5)\n",
        {"y": [0.2, 1.5, 4.0]}, {"k": 1.7, "s": 2.2},
        lambda d, p: (np.log(p["k"] / p["s"]) + (p["k"] - 1) * np.log(d.y / p["s"]) - (d.y / p["s"]) ** p["k"]),
    ),
    "Exponential": (
        "y[i] ~ Exponential(rate)\nrate ~ Exponential(1)\n",
        {"y": [0.1, 2.0, 9.0]}, {"rate": 0.6},
        lambda d, p: np.log(p["rate"]) - p["rate"] * d.y,
    ),
    "Categorical(softmax)": (
        "y[i] ~ Categorical(softmax(0, s2, s3))\n[s2, s3] ~ Normal(0, 1)\n",
        {"y": ["b", "a", "c", "b"]}, {"s2": 0.7, "s3": -1.2},
        lambda d, p: np.log(special.softmax([0, p["s2"], p["s3"]]))[d.y.map({"a": 0, "b": 1, "c": 2})],
    ),
    "Categorical(simplex)": (
        "y[i] ~ Categorical([0.2, 0.5, 0.3])\n",
        {"y": [3, 1, 2, 2]}, {},
        lambda d, p: np.log(np.array([0.2, 0.5, 0.3]))[d.y - 1],
    ),
    "censored Exponential": (
        "y[i] ~ Exponential(rate) | censored(c[i])\nrate ~ Exponential(1)\n",
        {"y": [0.5, 2.0, 3.0, 1.2], "c": [0, 1, -1, 0]}, {"rate": 0.8},
        lambda d, p: np.select([d.c == 0, d.c == 1], [np.log(p["rate"]) - p["rate"] * d.y, -p["rate"] * d.y],
                               np.log1p(-np.exp(-p["rate"] * d.y))),
    ),
    "censored Poisson (counts: right is y or more)": (
        "y[i] ~ Poisson(lambda) | censored(c[i])\nlambda ~ Exponential(0.2)\n",
        {"y": [2, 6, 1, 4], "c": [0, 1, -1, 0]}, {"lambda": 3.5},
        lambda d, p: np.select(
            [d.c == 0, d.c == 1],
            [stats.poisson.logpmf(d.y, p["lambda"]),
             np.log(1 - np.array([stats.poisson.pmf(np.arange(y), p["lambda"]).sum() for y in d.y]))],
            np.log([stats.poisson.pmf(np.arange(y + 1), p["lambda"]).sum() for y in d.y])),
    ),
    "censored Weibull": (
        "y[i] ~ Weibull(k, s) | censored(c[i])\nk ~ Exponential(0.5)\ns ~ Exponential(0.5)\n",
        {"y": [0.7, 2.5, 1.0], "c": [1, 0, -1]}, {"k": 1.4, "s": 1.9},
        lambda d, p: np.select(
            [d.c == 0, d.c == 1],
            [np.log(p["k"] / p["s"]) + (p["k"] - 1) * np.log(d.y / p["s"]) - (d.y / p["s"]) ** p["k"],
             -(d.y / p["s"]) ** p["k"]],
            np.log1p(-np.exp(-(d.y / p["s"]) ** p["k"]))),
    ),
    "truncated Normal T[0, ]": (
        "y[i] ~ Normal(mu, sigma) T[0, ]\nmu ~ Normal(0, 1)\nsigma ~ Exponential(1)\n",
        {"y": [0.1, 0.8, 2.5]}, {"mu": 0.3, "sigma": 1.3},
        lambda d, p: stats.norm.logpdf(d.y, p["mu"], p["sigma"]) - np.log(stats.norm.cdf(p["mu"] / p["sigma"])),
    ),
    "truncated Poisson T[1, 8] (the lower bound allowed)": (
        "y[i] ~ Poisson(lambda) T[1, 8]\nlambda ~ Exponential(0.2)\n",
        {"y": [1, 3, 8]}, {"lambda": 2.7},
        lambda d, p: stats.poisson.logpmf(d.y, p["lambda"]) - np.log(
            stats.poisson.pmf(np.arange(1, 9), p["lambda"]).sum()),
    ),
    "truncated Gamma T[, 5]": (
        "y[i] ~ Gamma(a, b) T[, 5]\na ~ Exponential(0.5)\nb ~ Exponential(0.5)\n",
        {"y": [0.5, 2.0, 4.9]}, {"a": 2.0, "b": 0.8},
        lambda d, p: stats.gamma.logpdf(d.y, p["a"], scale=1 / p["b"]) - np.log(
            stats.gamma.cdf(5, p["a"], scale=1 / p["b"])),
    ),
    "OrderedLogistic (Language I)": (
        "r[i] ~ OrderedLogistic(phi, cutpoints)\nphi ~ Normal(0, 1)\ncutpoints ~ Normal(0, 1.5)\n",
        {"r": [1, 3, 4, 2]}, {"phi": 0.4, "cutpoints": [-1.0, 0.2, 1.5]},
        # P(r = k) = P(r > k - 1) - P(r > k), P(r > k) = expit(phi - c_k), P(r > 0) = 1, P(r > 4) = 0
        lambda d, p: np.log(-np.diff(np.r_[1.0, special.expit(p["phi"] - np.array(p["cutpoints"])), 0.0]))[d.r - 1],
    ),
    "Binomial (Language I)": (
        "k[i] ~ Binomial(n[i], q)\nq ~ Beta(2, 2)\n",
        {"k": [0, 4, 9], "n": [6, 9, 9]}, {"q": 0.35},
        lambda d, p: _binom_logpmf(d.k, d.n, p["q"]),
    ),
    "Normal (Language I)": (
        "y[i] ~ Normal(mu, sigma)\nmu ~ Normal(0, 1)\nsigma ~ Exponential(1)\n",
        {"y": [-1.0, 0.3]}, {"mu": 0.2, "sigma": 0.9},
        lambda d, p: -0.5 * np.log(2 * np.pi) - np.log(p["sigma"]) - 0.5 * ((d.y - p["mu"]) / p["sigma"]) ** 2,
    ),
}


@pytest.mark.parametrize("case", list(FIXED))
def test_log_density_at_fixed_values_equals_the_reference(case: str) -> None:
    text, columns, values, reference = FIXED[case]
    model = mlmdsl.Model.from_string(text)
    table = pd.DataFrame(columns)
    bound = model.bind(table)
    given = {name: np.asarray(value, dtype=float).reshape(1, -1) for name, value in values.items()}
    sim = Simulator(model.checked, bound, 1, np.random.default_rng(0), given=given)
    (lk,) = model.checked.likelihoods
    got = sim.log_likelihood(lk, bound.observed[lk.outcome])
    assert got.shape == (1, len(table))
    np.testing.assert_allclose(got[0], np.asarray(reference(table, values), dtype=float), rtol=1e-9, atol=1e-12)


def _censored_rows(rng: np.random.Generator, n: int) -> pd.DataFrame:
    x = rng.normal(size=n)
    y = rng.exponential(np.exp(0.8 + 0.4 * x))
    end = rng.uniform(1, 6, n)
    return pd.DataFrame({"x": x, "days": np.minimum(y, end), "adopted": (y <= end).astype(int),
                         "color": rng.choice(["Black", "Other"], n)})


def _counts_censored(rng: np.random.Generator, n: int) -> pd.DataFrame:
    y = rng.poisson(4.0, n)
    return pd.DataFrame({"y": np.clip(y, 1, 6), "c": np.select([y >= 6, y <= 1], [1, -1], 0)})


def _truncated_normal(rng: np.random.Generator, n: int) -> pd.DataFrame:
    x = rng.normal(size=n)
    mu = 0.5 + 0.8 * x
    lo = stats.norm.cdf(0, mu, 1.0)
    return pd.DataFrame({"x": x, "y": stats.norm.ppf(lo + (1 - lo) * rng.random(n), mu, 1.0)})


def _truncated_poisson(rng: np.random.Generator, n: int) -> pd.DataFrame:
    x = rng.normal(size=3 * n)
    y = rng.poisson(np.exp(0.8 + 0.3 * x))
    keep = (y >= 1) & (y <= 8)
    return pd.DataFrame({"x": x[keep][:n], "y": y[keep][:n]})


def _windows(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Normal outcomes seen only inside each row's own window [lo, hi] (bounds from columns)."""
    x = rng.normal(size=n)
    lo = rng.uniform(-1.5, 0.0, n)
    hi = lo + rng.uniform(0.5, 2.5, n)
    mu = 0.2 + 0.6 * x
    a, b = stats.norm.cdf(lo, mu, 1.0), stats.norm.cdf(hi, mu, 1.0)
    return pd.DataFrame({"x": x, "lo": lo, "hi": hi, "y": stats.norm.ppf(a + (b - a) * rng.random(n), mu, 1.0)})


def _dice(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame({"y": rng.choice([1, 2, 3], n, p=[0.2, 0.3, 0.5])})


DICE = "y[i] ~ Categorical(p)\np ~ Dirichlet(2)\n"

WINDOWS = """\
y[i] ~ Normal(mu[i], sigma) T[lo[i], hi[i]]
mu[i] = a + b * x[i]
[a, b] ~ Normal(0, 1)
sigma ~ Exponential(1)
"""


def _weibull_censored(rng: np.random.Generator, n: int) -> pd.DataFrame:
    x = rng.normal(size=n)
    y = np.exp(0.5 + 0.4 * x) * rng.weibull(2.0, n)
    end = rng.uniform(0.5, 3, n)
    return pd.DataFrame({"x": x, "y": np.minimum(y, end), "c": (y > end).astype(int)})


WEIBULL_CENSORED = """\
y[i] ~ Weibull(k, s[i]) | censored(c[i])
log(s[i]) = a + b * x[i]
[a, b] ~ Normal(0, 1)
k ~ Exponential(0.5)
"""


ORDERED = "r[i] ~ OrderedLogistic(phi[i], cutpoints)\nphi[i] = b * x[i]\nb ~ Normal(0, 1)\ncutpoints ~ Normal(0, 1.5)\n"
BINOMIAL = "k[i] ~ Binomial(n[i], p[i])\nlogit(p[i]) = a + b * x[i]\n[a, b] ~ Normal(0, 1)\n"


def _ordered(rng: np.random.Generator, n: int) -> pd.DataFrame:
    x = rng.normal(size=n)
    above = special.expit(0.8 * x[:, None] - np.array([-1.0, 0.3, 1.2]))
    return pd.DataFrame({"x": x, "r": 1 + (rng.random((n, 1)) < above).sum(axis=1)})


def _binomial(rng: np.random.Generator, n: int) -> pd.DataFrame:
    x = rng.normal(size=n)
    trials = rng.integers(3, 15, n)
    return pd.DataFrame({"x": x, "n": trials, "k": rng.binomial(trials, special.expit(0.3 + 0.5 * x))})


def _from_recovery(case: str) -> tuple[str, Callable[[np.random.Generator, int], pd.DataFrame]]:
    lines, simulate, _, _ = CASES[case]

    def data(rng: np.random.Generator, n: int) -> pd.DataFrame:
        x = rng.normal(size=n)
        return pd.DataFrame({"y": simulate(rng, x), "x": x})

    return lines, data


# name -> (model, data of n rows): every Language II family of the recovery tests, and censoring
# and truncation (those of test_censoring.py and a censored Weibull with a log link).
STAN_CASES = {
    **{case: _from_recovery(case) for case in CASES},
    "censored Exponential (cats)": (CATS, _censored_rows),
    "censored counts, left and right": (COUNTS, _counts_censored),
    "censored Weibull": (WEIBULL_CENSORED, _weibull_censored),
    "truncated Normal": (TRUNCATED, _truncated_normal),
    "truncated Poisson": (POISSON_T, _truncated_poisson),
    "truncated Normal at data columns T[lo[i], hi[i]]": (WINDOWS, _windows),
    "Categorical(p) with p ~ Dirichlet(2)": (DICE, _dice),
    "OrderedLogistic with a predictor (Language I)": (ORDERED, _ordered),
    "Binomial-logit (Language I)": (BINOMIAL, _binomial),
}


@pytest.mark.parametrize("case", list(STAN_CASES))
def test_log_density_equals_the_stan_programs_log_lik(case: str) -> None:
    text, make = STAN_CASES[case]
    table = make(np.random.default_rng(list(STAN_CASES).index(case)), 40)
    model = mlmdsl.Model.from_string(text)
    fit = model.fit(table, chains=1, iter_warmup=150, iter_sampling=40, seed=3, refresh=0)
    stan = fit.idata.log_likelihood
    (outcome,) = list(stan.data_vars)
    expected = stan[outcome].transpose("chain", "draw", ...).values.reshape(40, -1)
    ours = held_out_log_lik(fit, model, table, seed=0)
    assert np.isfinite(expected).all()
    np.testing.assert_allclose(ours, expected, rtol=1e-7, atol=1e-9)


ZIP = """\
y[i] ~ ZIPoisson(zi, lambda[i])
log(lambda[i]) = a[g[i]] + b * x[i]
a[j] ~ Normal(abar, sigma_a)
abar ~ Normal(1, 0.5)
b ~ Normal(0, 0.3)
sigma_a ~ Exponential(2)
zi ~ Beta(2, 4)
"""


@pytest.fixture(scope="module")
def zip_data() -> pd.DataFrame:
    return zip_table()


def zip_table() -> pd.DataFrame:
    """36 rows, 4 groups, about 30% structural zeros (benchmarks/kfold_splits.py uses it too)."""
    rng = np.random.default_rng(5)
    g = np.arange(36) % 4
    x = rng.normal(size=36)
    y = np.where(rng.random(36) < 0.3, 0, rng.poisson(np.exp(np.array([0.4, 0.9, 1.2, 1.6])[g] + 0.2 * x)))
    return pd.DataFrame({"y": y, "g": g, "x": x})


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None, silence_logs=logging.ERROR) as c:
        yield c.scheduler_address


def test_kfold_and_sbc_run_on_a_zero_inflated_model(zip_data, cluster) -> None:
    from mlmdsl.posterior.compare import pointwise

    model = mlmdsl.Model.from_string(ZIP, "zip")
    sampler = {"chains": 2, "iter_warmup": 200, "iter_sampling": 200}
    # Exact leave-one-out (K = n) against PSIS-LOO, which approximates it where Pareto k is low.
    exact = mlmdsl.kfold(model, zip_data, K=len(zip_data), seed=1, scheduler=cluster, **sampler)
    loo = pointwise(model.fit(zip_data, seed=1, refresh=0, **sampler)).estimate()
    est = exact.estimate()
    assert np.isfinite(exact.pointwise.elpd).all()
    assert est["elpd"] == pytest.approx(loo["elpd"], abs=max(1.5, est["se_elpd"] / 3))
    result = mlmdsl.sbc(model, zip_data, replications=6, seed=2, scheduler=cluster, chains=1, iter_warmup=150,
                        iter_sampling=100, thin=10)
    assert result.completed == 6 and result.failed == 0
    ranked = result.rank_arrays()
    assert {"zi", "abar", "log_lik"} <= set(ranked)
    assert all(0 <= r <= result.settings.max_rank for r in ranked["log_lik"])


def test_held_out_categories_keep_the_whole_datas_codes() -> None:
    """Categories given as text are coded 1..K in sorted order of the rows bound; K-fold's
    held-out rows that miss a category must keep the whole table's codes (kfold._coded writes
    the outcome as those codes before the rows are split), else `c` would be scored as `b`."""
    from mlmdsl.calibration.kfold import _coded

    text = "y[i] ~ Categorical(softmax(0, s2, s3))\n[s2, s3] ~ Normal(0, 1)\n"
    rng = np.random.default_rng(9)
    table = pd.DataFrame({"y": rng.choice(["a", "b", "c"], 30, p=[0.2, 0.5, 0.3])})
    model = mlmdsl.Model.from_string(text)
    fit = model.fit(table, chains=1, iter_warmup=150, iter_sampling=40, seed=3, refresh=0)
    coded, _ = _coded(model, table)
    rows = np.flatnonzero(table["y"] != "a")  # a held-out fold without category `a`
    ours = held_out_log_lik(fit, model, coded.iloc[rows], seed=0)
    stan = fit.idata.log_likelihood["y"].transpose("chain", "draw", ...).values.reshape(40, -1)
    np.testing.assert_allclose(ours, stan[:, rows], rtol=1e-7)


def _adoptions(rng: np.random.Generator, n: int) -> pd.DataFrame:
    days = rng.exponential(1.0, n)
    end = rng.uniform(0.3, 2.0, n)
    return pd.DataFrame({"days": np.minimum(days, end), "adopted": (days <= end).astype(int)})


# name -> (model, design): SBC simulates censoring at the design's censoring points
CENSORED_SBC = {
    "right-censored, censored(1 - adopted[i])": (
        "days[i] ~ Exponential(lambda) | censored(1 - adopted[i])\nlambda ~ Gamma(4, 4)\n", _adoptions),
    "counts censored left and right, censored(c[i])": (
        "y[i] ~ Poisson(lambda) | censored(c[i])\nlambda ~ Gamma(8, 2)\n",
        lambda rng, n: _counts_censored(rng, n)),
}


@pytest.mark.parametrize("case", list(CENSORED_SBC))
def test_sbc_of_a_censored_outcome_passes(case: str, cluster) -> None:
    """A correct censored program is not flagged: each simulated outcome is censored at the
    design's censoring point and its code written back (censoring.py). Simulated uncensored with
    the design's codes kept, the fit reads draws as bounds and both quantities are flagged (p <
    0.001 at 60 replications)."""
    text, make = CENSORED_SBC[case]
    design = make(np.random.default_rng(1), 30)
    result = mlmdsl.sbc(mlmdsl.Model.from_string(text), design, replications=60, seed=1, scheduler=cluster,
                        chains=1, iter_warmup=150, iter_sampling=200, thin=4)
    assert result.completed == 60
    assert result.flagged == [], result.report()


def test_sbc_refuses_censoring_it_cannot_write_back() -> None:
    from mlmdsl.calibration.censoring import CensoringError

    text = "y[i] ~ Exponential(lambda) | censored(c[i] * c[i])\nlambda ~ Gamma(4, 4)\n"
    design = pd.DataFrame({"y": [0.5, 1.0, 2.0], "c": [0, 1, 0]})
    with pytest.raises(CensoringError, match=r"`censored\(c\[i\] \* c\[i\]\)` must be one column or an affine"):
        mlmdsl.sbc(mlmdsl.Model.from_string(text), design, replications=2, seed=1)
