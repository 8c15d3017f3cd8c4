"""An estimated simplex: `y[i] ~ Categorical(p)` with `p ~ Dirichlet(alpha)` (issue 14).

p is declared `simplex[K]`, K the outcome's number of categories (data: the program stays generic
in K). On data simulated here: p is recovered (family-wise 90% intervals), its entries are labelled
by the categories in the summary and in ArviZ, log_lik is log p[y] per draw, the replicated
outcomes are categories 1..K, predict(kind="epred") gives p's draws per category, and the prior
predictive draws p from its Dirichlet.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlmdsl
from mlmdsl.compiler import compile_source
from tests.conftest import EXAMPLES
from tests.test_censoring import _draws, _loglik, _rep
from tests.test_coverage_structures import assert_recovers, fit_model

TRUE_P = np.array([0.15, 0.25, 0.6])
LABELS = ["blue", "green", "red"]  # coded 1..3 in sorted order
SYMMETRIC = "colour[i] ~ Categorical(p)\np ~ Dirichlet(2)\n"
LISTED = "colour[i] ~ Categorical(p)\np ~ Dirichlet([1, 2, 3])\n"


@pytest.fixture(scope="module")
def colours():
    rng = np.random.default_rng(61)
    df = pd.DataFrame({"colour": np.array(LABELS)[rng.choice(3, 400, p=TRUE_P)]})
    return fit_model(SYMMETRIC, df, seed=2), df


def test_simplex_is_recovered_and_labelled_by_the_categories(colours) -> None:
    fit, _ = colours
    assert_recovers(fit, {"p": TRUE_P})
    assert [label for _, label in fit.elements("p")] == [f"p[{c}]" for c in LABELS]
    assert list(fit.idata.posterior["p"].coords["colour_category"].values) == LABELS
    draws = _draws(fit, "p")
    np.testing.assert_allclose(draws.sum(axis=1), 1.0, atol=1e-8)


def test_simplex_log_lik_replicates_and_predict(colours) -> None:
    fit, df = colours
    p = _draws(fit, "p")
    codes = pd.Categorical(df["colour"], categories=LABELS).codes  # 0-based
    np.testing.assert_allclose(_loglik(fit, "colour"), np.log(p[:, codes]), rtol=1e-6)
    rep = _rep(fit, "colour")
    assert set(np.unique(rep)) == {1, 2, 3}
    # the replicated share of each category follows p (over all draws and rows)
    share = np.array([(rep == k).mean() for k in (1, 2, 3)])
    np.testing.assert_allclose(share, p.mean(axis=0), atol=0.01)
    epred = fit.predict(pd.DataFrame(index=[0]), kind="epred")
    assert epred[".category"].tolist() == LABELS
    np.testing.assert_allclose(epred["Estimate"].to_numpy(), p.mean(axis=0), atol=0.01)
    response = fit.predict(pd.DataFrame(index=range(3)), kind="response", summary=False)
    assert set(response["value"].unique()) <= {1.0, 2.0, 3.0}


def test_program_is_generic_in_the_number_of_categories() -> None:
    compiled = compile_source(SYMMETRIC, "m.mlm")
    code = compiled.stan_code
    assert code is not None
    for line in (
        "int<lower=2> K_colour;",
        "array[N] int<lower=1, upper=K_colour> colour;",
        "simplex[K_colour] p;",
        "colour ~ categorical(p);",
        "p ~ dirichlet(rep_vector(2, K_colour));",
    ):
        assert line in code, line
    assert "p ~ dirichlet([1, 2, 3]');" in compile_source(LISTED, "m.mlm").stan_code  # type: ignore[operator]
    # K is the data's: five categories make a simplex of five
    five = mlmdsl.Model.from_string(SYMMETRIC).bind(pd.DataFrame({"colour": [1, 2, 3, 4, 5, 5]}))
    assert five.stan_data["K_colour"] == 5


def test_prior_predictive_draws_p_from_its_dirichlet() -> None:
    df = pd.DataFrame({"colour": [1, 2, 3] * 10})
    pp = mlmdsl.Model.from_string(LISTED).prior_predictive(df, draws=4000, seed=3)
    p = pp.draws("p")
    assert p.shape == (4000, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    # Dirichlet(1, 2, 3): mean alpha / 6, var alpha (6 - alpha) / (6^2 * 7)
    alpha = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(p.mean(axis=0), alpha / 6, atol=0.01)
    np.testing.assert_allclose(p.var(axis=0), alpha * (6 - alpha) / (36 * 7), rtol=0.08)
    y = pp.draws("colour")
    assert y.shape == (4000, 30) and set(np.unique(y)) == {1.0, 2.0, 3.0}


def test_example_fits_from_its_file() -> None:
    fit = mlmdsl.Model.from_file(EXAMPLES / "dice_dirichlet.mlm").fit(
        EXAMPLES / "data" / "dice.csv", chains=2, iter_warmup=300, iter_sampling=300, seed=1, refresh=0
    )
    assert_recovers(fit, {"p": [0.2, 0.3, 0.5]})  # examples/simulate_families.py, dice()
