"""Issue 14, robust and constrained effects: StudentT group effects (non-centred) and a
`@sum_to_zero` effect recover what was simulated; the sum-to-zero prior keeps its stated
marginal scale (Stan User's Guide: normal(0, s * inv(sqrt(1 - inv(N)))) on a sum_to_zero_vector
gives each entry scale s)."""

from __future__ import annotations

import numpy as np
import pandas as pd

import mlmdsl
from tests.test_coverage_structures import assert_recovers, fit_model

ROBUST = """\
y[i] ~ Normal(mu[i], sigma)
mu[i] = a[group[i]] + b[block[i]]
a[j] ~ StudentT(3, abar, sigma_a)
b[k] ~ Normal(0, sigma_b) @sum_to_zero
abar ~ Normal(0, 1.5)
sigma_a ~ Exponential(1)
sigma_b ~ Exponential(1)
sigma ~ Exponential(1)
"""


def test_studentt_and_sum_to_zero_effects_recover() -> None:
    rng = np.random.default_rng(51)
    a = 1.0 + 0.5 * rng.standard_t(3, 15)
    b = rng.normal(0, 0.5, 5)
    b -= b.mean()
    g = np.repeat(np.arange(15), 10)
    k = np.tile(np.arange(5), 30)
    df = pd.DataFrame({"group": g + 1, "block": k + 1, "y": a[g] + b[k] + rng.normal(0, 0.4, g.size)})
    fit = fit_model(ROBUST, df)
    draws = fit.idata.posterior["b"].values
    assert np.abs(draws.sum(axis=-1)).max() < 1e-8  # a sum_to_zero_vector in every draw
    assert_recovers(fit, {"abar": 1.0, "sigma": 0.4, "a": a, "b": b})
    noncentred = mlmdsl.Model.from_string(ROBUST, parameterization="noncentered").stan_code()
    assert "z_a ~ student_t(3, 0, 1);" in noncentred and "abar + sigma_a * z_a" in noncentred


def test_sum_to_zero_prior_keeps_its_marginal_scale() -> None:
    text = "y[i] ~ Normal(mu[i], 100)\nmu[i] = b[k[i]]\nb[j] ~ Normal(0, 1) @sum_to_zero\n"
    df = pd.DataFrame({"k": [1, 2, 3, 4, 5], "y": [0.1, -0.2, 0.0, 0.3, -0.1]})
    fit = mlmdsl.Model.from_string(text).fit(df, chains=2, iter_warmup=500, iter_sampling=1500, refresh=0, seed=3)
    sd = fit.idata.posterior["b"].values.reshape(-1, 5).std(axis=0)
    # Uncorrected, each entry's scale would be sqrt(1 - 1/5) = 0.89.
    assert 0.94 < sd.mean() < 1.06, sd
