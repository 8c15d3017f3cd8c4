"""Truncation bounds from data columns: `T[lo[i], hi[i]]`, `T[, cap[i]]`, `T[L[i], ]` (issue 14).

Each row has its own bounds. Fits on data simulated here from the exact truncated distributions:
the untruncated parameters are recovered (family-wise 90% intervals, test_coverage_structures),
the pointwise log-likelihood is the density renormalised by each row's own bounds (checked
against SciPy on the posterior draws), the replicated outcomes and predict()'s draws lie inside
each row's bounds, and predict(kind="epred") is each row's truncated mean.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mlmdsl
from mlmdsl.compiler import compile_source
from mlmdsl.posterior.predict import predict_draws
from tests.conftest import EXAMPLES, assert_stanc_accepts
from tests.test_censoring import _draws, _loglik, _rep
from tests.test_coverage_structures import assert_recovers, fit_model

WINDOWS = (EXAMPLES / "truncated_windows.mlm").read_text(encoding="utf-8")
CAPPED = (EXAMPLES / "capped_counts.mlm").read_text(encoding="utf-8")
FLOOR = """\
y[i] ~ Poisson(lambda[i]) T[floor[i], ]
log(lambda[i]) = a + b * x[i]
[a, b] ~ Normal(0, 1)
"""
# Bonferroni over this file's three recovery fits (see test_coverage_structures). Each model
# was also checked to converge on the truth with 20,000 rows (maximum likelihood, SciPy).
MISS = 0.1 / 3


def _truncated_normal(rng: np.random.Generator, mu, sigma, lo, hi) -> np.ndarray:
    """Exact draws by the inverse CDF between each row's bounds."""
    a, b = stats.norm.cdf(lo, mu, sigma), stats.norm.cdf(hi, mu, sigma)
    return np.clip(stats.norm.ppf(a + (b - a) * rng.random(np.shape(mu)), mu, sigma), lo, hi)


@pytest.fixture(scope="module")
def windows_fit():
    rng = np.random.default_rng(55)
    n = 300
    x = rng.normal(size=n)
    lo = rng.uniform(0.0, 2.0, n)
    hi = lo + rng.uniform(2.0, 4.0, n)
    df = pd.DataFrame({"x": x, "lo": lo, "hi": hi, "rt": _truncated_normal(rng, 2 + 0.5 * x, 0.8, lo, hi)})
    return fit_model(WINDOWS, df, seed=3), df


def test_windows_recover_the_untruncated_parameters(windows_fit) -> None:
    fit, _ = windows_fit
    assert_recovers(fit, {"a": 2.0, "b": 0.5, "sigma": 0.8}, family_miss_rate=MISS)


def test_windows_log_lik_rep_and_predict_use_each_rows_bounds(windows_fit) -> None:
    fit, df = windows_fit
    a, b, sigma = (_draws(fit, n)[:, None] for n in ("a", "b", "sigma"))
    mu = a + b * df["x"].to_numpy()
    lo, hi, y = (df[c].to_numpy() for c in ("lo", "hi", "rt"))
    mass = stats.norm.cdf(hi, mu, sigma) - stats.norm.cdf(lo, mu, sigma)
    np.testing.assert_allclose(_loglik(fit, "rt"), stats.norm.logpdf(y, mu, sigma) - np.log(mass), rtol=1e-6)
    rep = _rep(fit, "rt")
    assert (rep >= lo).all() and (rep <= hi).all()
    # the rejection loop found a draw inside in every row (none clipped onto a bound)
    assert not ((rep == lo) | (rep == hi)).any()
    # each row's truncated mean, closed form: mu + sigma (phi(alpha) - phi(beta)) / mass
    alpha, beta = (lo - mu) / sigma, (hi - mu) / sigma
    mean = mu + sigma * (stats.norm.pdf(alpha) - stats.norm.pdf(beta)) / mass
    epred = predict_draws(fit, df, kind="epred", ndraws=200)["rt"]
    assert epred.shape == (200, len(df)) and (epred >= lo).all() and (epred <= hi).all()
    # predict picks its own 200 draws: the row means agree within Monte Carlo error
    np.testing.assert_allclose(epred.mean(axis=0), mean.mean(axis=0), atol=0.05)
    response = predict_draws(fit, df, kind="response", seed=3)["rt"]
    assert (response >= lo).all() and (response <= hi).all()
    # new rows with bounds of their own: a narrow window pins the mean inside it
    new = pd.DataFrame({"x": [0.0, 0.0], "lo": [0.0, 2.9], "hi": [10.0, 3.0]})
    new_mean = predict_draws(fit, new, kind="epred", ndraws=100)["rt"].mean(axis=0)
    assert abs(new_mean[0] - 2.0) < 0.2 and 2.9 < new_mean[1] < 3.0


def test_capped_counts_per_row() -> None:
    rng = np.random.default_rng(53)
    x = rng.normal(size=900)
    cap = rng.integers(2, 9, 900)
    y = rng.poisson(np.exp(1 + 0.4 * x))
    keep = y <= cap  # a Poisson given y <= cap: exactly the truncated law of each kept row
    df = pd.DataFrame({"x": x[keep], "cap": cap[keep], "ticked": y[keep]})
    fit = fit_model(CAPPED, df, seed=5)
    assert_recovers(fit, {"a": 1.0, "b": 0.4}, family_miss_rate=MISS)
    a, b = (_draws(fit, n)[:, None] for n in ("a", "b"))
    lam = np.exp(a + b * df["x"].to_numpy())
    c = df["cap"].to_numpy()
    expected = stats.poisson.logpmf(df["ticked"].to_numpy(), lam) - stats.poisson.logcdf(c, lam)
    np.testing.assert_allclose(_loglik(fit, "ticked"), expected, rtol=1e-6)
    assert (_rep(fit, "ticked") <= c).all()
    epred = predict_draws(fit, df, kind="epred", ndraws=100)["ticked"]
    k = np.arange(9)[:, None]
    lam_mean = np.exp(np.mean(a) + np.mean(b) * df["x"].to_numpy())
    # the truncated mean at the posterior means, summed exactly over 0..cap
    exact = (k * stats.poisson.pmf(k, lam_mean) * (k <= c)).sum(0) / stats.poisson.cdf(c, lam_mean)
    assert np.corrcoef(epred.mean(axis=0), exact)[0, 1] > 0.995 and (epred <= c).all()
    response = predict_draws(fit, df, kind="response", seed=1)["ticked"]
    assert (response <= c).all() and (response == np.round(response)).all()


def test_count_with_a_lower_bound_per_row() -> None:
    rng = np.random.default_rng(54)
    x = rng.normal(size=900)
    floor = rng.integers(0, 4, 900)
    y = rng.poisson(np.exp(1.2 + 0.3 * x))
    keep = y >= floor
    df = pd.DataFrame({"x": x[keep], "floor": floor[keep], "y": y[keep]})
    fit = fit_model(FLOOR, df, seed=6)
    assert_recovers(fit, {"a": 1.2, "b": 0.3}, family_miss_rate=MISS)
    a, b = (_draws(fit, n)[:, None] for n in ("a", "b"))
    lam = np.exp(a + b * df["x"].to_numpy())
    f = df["floor"].to_numpy()
    expected = stats.poisson.logpmf(df["y"].to_numpy(), lam) - stats.poisson.logsf(f - 1, lam)
    np.testing.assert_allclose(_loglik(fit, "y"), expected, rtol=1e-6)
    assert (_rep(fit, "y") >= f).all()
    assert (predict_draws(fit, df, kind="response", seed=2)["y"] >= f).all()


STAN = [
    # (model, lines the Stan program must have)
    (WINDOWS, ["vector[N] lo;", "vector[N] hi;", "rt[n] ~ normal(mu[n], sigma) T[lo[n], hi[n]];",
               "log_diff_exp(normal_lcdf(hi[n_2] | mu[n_2], sigma), normal_lcdf(lo[n_2] | mu[n_2], sigma))"]),
    # a count's bounds are whole numbers (Stan's count CDFs take ints); a lower bound itself is allowed
    (CAPPED, ["array[N] int cap;", "T[, cap[n]];", "poisson_lcdf(cap[n_2] | lambda[n_2])"]),
    (FLOOR, ["array[N] int floor;", "T[floor[n], ];", "poisson_lccdf(floor[n_2] - 1 | lambda[n_2])"]),
]


@pytest.mark.parametrize("text,lines", STAN, ids=["windows", "capped", "floor"])
def test_stan_program_reads_the_bound_columns(text: str, lines: list[str], stanc, tmp_path) -> None:

    compiled = compile_source(text, "m.mlm")
    assert compiled.ok and compiled.stan_code is not None
    for line in lines:
        assert line in compiled.stan_code, line
    assert_stanc_accepts(stanc, compiled.stan_code, tmp_path)


@pytest.mark.parametrize(
    "example,data,outcome,low,high",
    [("truncated_windows", "windows.csv", "rt", "lo", "hi"), ("capped_counts", "capped.csv", "ticked", None, "cap")],
)
def test_prior_predictive_keeps_each_rows_bounds(example, data, outcome, low, high) -> None:
    df = pd.read_csv(EXAMPLES / "data" / data)
    model = mlmdsl.Model.from_file(EXAMPLES / f"{example}.mlm")
    for table in (df, df.drop(columns=outcome)):  # with the outcome, and simulating it from scratch
        y = model.prior_predictive(table, draws=40, seed=1).draws(outcome)
        assert y.shape == (40, len(df))
        if low is not None:
            assert (y >= df[low].to_numpy()).all()
        assert (y <= df[high].to_numpy()).all()
