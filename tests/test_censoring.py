"""Censoring `| censored(c[i])` and truncation `T[L, U]` (LANGUAGE.md, "Censoring and truncation").

Fits on data simulated here: the parameters are recovered, the pointwise log-likelihood (LOO's
input) is Stan's CDF term for a censored row and the normalised density for a truncated one
(checked against SciPy on the posterior draws), the replicated outcomes are draws of the
uncensored outcome for censored rows (documented in docs/families.md) and inside the bounds for
truncated ones, and predict() gives the means of those distributions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mlmdsl
from mlmdsl.posterior.predict import predict_draws
from tests.test_coverage_structures import assert_recovers, fit_model

CATS = """\
days[i] ~ Exponential(lambda[i]) | censored(1 - adopted[i])
lambda[i] = 1 / mu[i]
log(mu[i]) = a[color[i]]
a[j] ~ Normal(0, 1)
"""


def _draws(fit, name: str) -> np.ndarray:
    values = fit.idata.posterior[name].transpose("chain", "draw", ...).values
    return values.reshape(-1, *values.shape[2:])


def _loglik(fit, outcome: str) -> np.ndarray:
    values = fit.idata.log_likelihood[outcome].transpose("chain", "draw", ...).values
    return values.reshape(-1, values.shape[-1])


def _rep(fit, outcome: str) -> np.ndarray:
    values = fit.idata.posterior_predictive[outcome].transpose("chain", "draw", ...).values
    return values.reshape(-1, values.shape[-1])


@pytest.fixture(scope="module")
def cats_fit():
    """Rethinking's cats: adoption days, Exponential with mean exp(a[color]); cats not adopted
    by their end of observation are right-censored there."""
    rng = np.random.default_rng(30)
    n = 300
    color = rng.choice(["Black", "Other"], n, p=[0.4, 0.6])
    days = rng.exponential(np.exp(np.where(color == "Black", 3.8, 4.0)))
    end = rng.uniform(20, 150, n)
    df = pd.DataFrame({"color": color, "days": np.minimum(days, end), "adopted": (days <= end).astype(int)})
    return fit_model(CATS, df, seed=3), df


def test_cats_recover_adoption_rates_despite_censoring(cats_fit) -> None:
    fit, df = cats_fit
    assert 0.2 < 1 - df["adopted"].mean() < 0.7  # a real share of the rows is censored
    assert_recovers(fit, {"a": [3.8, 4.0]}, family_miss_rate=0.1 / 4)
    assert [label for _, label in fit.elements("a")] == ["a[Black]", "a[Other]"]


def test_a_naive_fit_ignoring_censoring_is_biased(cats_fit) -> None:
    """The same data without `| censored(...)`: the right-censored days count as adoptions and
    pull the means down (the bias censoring corrects, so the first test can fail)."""
    fit, df = cats_fit
    naive = fit_model(CATS.split(" |")[0] + "\n" + CATS.split("\n", 1)[1], df, seed=3)
    assert naive.summary().loc["a[Other]", "u-95% CI"] < 4.0
    assert fit.summary().loc["a[Other]", "Estimate"] > naive.summary().loc["a[Other]", "u-95% CI"]


def test_log_lik_of_a_censored_row_is_the_log_ccdf(cats_fit) -> None:
    fit, df = cats_fit
    a = _draws(fit, "a")  # (draws, 2)
    code = np.where(df["color"] == "Black", 0, 1)
    rate = 1 / np.exp(a[:, code])  # (draws, rows)
    days = df["days"].to_numpy()
    expected = np.where(
        df["adopted"].to_numpy() == 1,
        stats.expon.logpdf(days, scale=1 / rate),
        stats.expon.logsf(days, scale=1 / rate),
    )
    np.testing.assert_allclose(_loglik(fit, "days"), expected, rtol=1e-6, atol=1e-8)


def test_replicated_days_of_censored_rows_are_uncensored_draws(cats_fit) -> None:
    fit, df = cats_fit
    rep = _rep(fit, "days")
    censored = df["adopted"].to_numpy() == 0
    # A draw of the adoption time itself, not bounded by the days observed so far ...
    assert (rep[:, censored] > df["days"].to_numpy()[censored]).mean() > 0.3
    # ... with the uncensored mean exp(a[color]) (about 45 and 55 days).
    other = censored & (df["color"].to_numpy() == "Other")
    assert abs(rep[:, other].mean() / np.exp(4.0) - 1) < 0.15


def test_predict_of_a_censored_outcome_is_the_uncensored_one(cats_fit) -> None:
    fit, df = cats_fit
    epred = predict_draws(fit, df, kind="epred")["days"]
    a = _draws(fit, "a")
    code = np.where(df["color"] == "Black", 0, 1)
    np.testing.assert_allclose(epred, np.exp(a[:, code]), rtol=1e-6)
    response = predict_draws(fit, df, kind="response", seed=1)["days"]
    assert response.min() > 0 and abs(response.mean() / epred.mean() - 1) < 0.1


COUNTS = """\
y[i] ~ Poisson(lambda) | censored(c[i])
lambda ~ Exponential(0.2)
"""


def test_censored_counts_left_and_right() -> None:
    """c = 1: "y or more" (log P(Y >= y) = lccdf(y - 1)); c = -1: "y or fewer" (lcdf(y))."""
    rng = np.random.default_rng(4)
    y = rng.poisson(4.0, 300)
    c = np.zeros(300, dtype=int)
    c[y >= 6] = 1  # reported as "6 or more"
    c[y <= 1] = -1  # reported as "1 or fewer"
    df = pd.DataFrame({"y": np.clip(y, 1, 6), "c": c})
    fit = fit_model(COUNTS, df, seed=2)
    assert_recovers(fit, {"lambda": 4.0}, family_miss_rate=0.1 / 4)
    lam = _draws(fit, "lambda")[:, None]
    yy = df["y"].to_numpy()
    expected = np.select(
        [c == 0, c == 1, c == -1],
        [stats.poisson.logpmf(yy, lam), stats.poisson.logsf(yy - 1, lam), stats.poisson.logcdf(yy, lam)],
    )
    np.testing.assert_allclose(_loglik(fit, "y"), expected, rtol=1e-6, atol=1e-8)
    code = mlmdsl.Model.from_string(COUNTS).stan_code()
    assert "poisson_lccdf(y[n] - 1 | lambda)" in code and "poisson_lcdf(y[n] | lambda)" in code


TRUNCATED = """\
y[i] ~ Normal(mu[i], sigma) T[0, ]
mu[i] = a + b * x[i]
[a, b] ~ Normal(0, 1)
sigma ~ Exponential(1)
"""


@pytest.fixture(scope="module")
def truncated_fit():
    rng = np.random.default_rng(31)
    x = rng.normal(size=300)
    mu = 0.5 + 0.8 * x
    lo = stats.norm.cdf(0, mu, 1.0)
    y = stats.norm.ppf(lo + (1 - lo) * rng.random(300), mu, 1.0)  # exactly Normal truncated at 0
    df = pd.DataFrame({"x": x, "y": y})
    return fit_model(TRUNCATED, df, seed=4), df


def test_truncated_normal_recovers_its_untruncated_parameters(truncated_fit) -> None:
    fit, _ = truncated_fit
    assert_recovers(fit, {"a": 0.5, "b": 0.8, "sigma": 1.0}, family_miss_rate=0.1 / 4)


def test_truncated_log_lik_rep_and_predict(truncated_fit) -> None:
    fit, df = truncated_fit
    a, b, sigma = (_draws(fit, n)[:, None] for n in ("a", "b", "sigma"))
    mu = a + b * df["x"].to_numpy()
    # Normal truncated below at 0, written out (SciPy's truncnorm is very slow on arrays)
    logpdf = stats.norm.logpdf(df["y"].to_numpy(), mu, sigma) - stats.norm.logsf(0, mu, sigma)
    np.testing.assert_allclose(_loglik(fit, "y"), logpdf, rtol=1e-6, atol=1e-8)
    assert _rep(fit, "y").min() >= 0
    alpha = -mu / sigma
    mean = mu + sigma * np.exp(stats.norm.logpdf(alpha) - stats.norm.logsf(alpha))
    epred = predict_draws(fit, df, kind="epred", ndraws=200)["y"]
    assert epred.shape == (200, len(df)) and (epred > 0).all()
    # predict picks its own 200 draws: compare the means over draws, within Monte Carlo error
    assert abs(epred.mean() - mean.mean()) < 0.05, (epred.mean(), mean.mean())
    # and row by row, the quadrature against the closed form at the posterior mean
    row_means = epred.mean(axis=0)
    assert np.corrcoef(row_means, mean.mean(axis=0))[0, 1] > 0.999
    response = predict_draws(fit, df, kind="response", seed=3)["y"]
    assert response.min() >= 0 and abs(response.mean() - mean.mean()) < 0.05


POISSON_T = """\
y[i] ~ Poisson(lambda[i]) T[1, 8]
log(lambda[i]) = a + b * x[i]
[a, b] ~ Normal(0, 1)
"""


def test_truncated_counts() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(size=600)
    lam = np.exp(0.8 + 0.3 * x)
    y = rng.poisson(lam)
    keep = (y >= 1) & (y <= 8)
    df = pd.DataFrame({"x": x[keep], "y": y[keep]})
    fit = fit_model(POISSON_T, df, seed=5)
    # Bonferroni over this file's four recovery fits (see test_coverage_structures)
    assert_recovers(fit, {"a": 0.8, "b": 0.3}, family_miss_rate=0.1 / 4)
    a, b = (_draws(fit, n)[:, None] for n in ("a", "b"))
    lam_d = np.exp(a + b * df["x"].to_numpy())
    norm = np.log(stats.poisson.cdf(8, lam_d) - stats.poisson.cdf(0, lam_d))
    np.testing.assert_allclose(_loglik(fit, "y"), stats.poisson.logpmf(df["y"].to_numpy(), lam_d) - norm, rtol=1e-6)
    rep = _rep(fit, "y")
    assert rep.min() >= 1 and rep.max() <= 8
    epred = predict_draws(fit, df, kind="epred", ndraws=100)["y"]
    assert (epred >= 1).all() and (epred <= 8).all()
    response = predict_draws(fit, df, kind="response", seed=1)["y"]
    assert set(np.unique(response)) <= set(range(1, 9))
