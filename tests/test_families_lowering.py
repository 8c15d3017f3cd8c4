"""Language II families in Stan: what the compiler writes (model -> Stan fragments, every program
accepted by the official stanc3), and the labels of a Categorical outcome through predict().
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlmdsl
from mlmdsl.compiler import compile_source
from tests.conftest import EXAMPLES, assert_stanc_accepts
from tests.test_coverage_structures import fit_model
from tests.test_fit import BACKENDS

CASES = [
    (
        "two zero-inflated outcomes share one definition of the family",
        "y[i] ~ ZIPoisson(z, l)\nw[i] ~ dzipois(z, l)\nz ~ Beta(1, 1)\nl ~ Exponential(1)\n",
        ["real zero_inflated_poisson_lpmf(int y, real zi, real lambda)",
         "for (n in 1:N) y[n] ~ zero_inflated_poisson(z, l);"],
        [],
        1,
    ),
    (
        "zi with its own linear predictor is a row vector",
        "y[i] ~ ZIPoisson(zi[i], l)\nlogit(zi[i]) = a + b * x[i]\n[a, b] ~ Normal(0, 1)\nl ~ Exponential(1)\n",
        ["vector[N] zi = inv_logit(a + b * x);", "y[n] ~ zero_inflated_poisson(zi[n], l);"],
        ["bernoulli_logit"],
        1,
    ),
    (
        "hurdle Poisson draws its positive part without rejection",
        "y[i] ~ HurdlePoisson(h, l)\nh ~ Beta(1, 1)\nl ~ Exponential(1)\n",
        ["return 1 + poisson_rng(lambda - t);", "y_rep[n_2] = hurdle_poisson_rng(h, l);"],
        ["for (t in 1:"],
        1,
    ),
    (
        "beta-binomial with data trials",
        "y[i] ~ BetaBinomial(n[i], p, t)\np ~ Beta(1, 1)\nt ~ Exponential(1)\n",
        ["array[N] int<lower=0> n;", "beta_binomial_lpmf(y | n, pbar * theta, (1 - pbar) * theta)",
         "y[n_2] ~ beta_binomial2(n[n_2], p, t);"],  # the row loop steps aside for the column n
        [],
        None,
    ),
    (
        "censoring uses Stan's own CDFs and disables the fused Poisson form",
        "y[i] ~ Poisson(l[i]) | censored(c[i])\nlog(l[i]) = a + b * x[i]\n[a, b] ~ Normal(0, 1)\n",
        ["array[N] int<lower=-1, upper=1> cens_y;", "poisson_lccdf(y[n] - 1 | l[n])", "poisson_lcdf(y[n] | l[n])"],
        ["poisson_log", "vector[N] c;"],
        None,
    ),
    (
        "truncation above only",
        "y[i] ~ LogNormal(m, s) T[, 10]\nm ~ Normal(0, 1)\ns ~ Exponential(1)\n",
        ["for (n in 1:N) y[n] ~ lognormal(m, s) T[, 10];", "- lognormal_lcdf(10 | m, s);"],
        ["normal_id_glm"],
        None,
    ),
    (
        "truncation of a Normal GLM keeps the row loop",
        "y[i] ~ Normal(mu[i], s) T[0, 5]\nmu[i] = a + b * x[i]\n[a, b] ~ Normal(0, 1)\ns ~ Exponential(1)\n",
        ["y[n] ~ normal(mu[n], s) T[0, 5];",
         "log_diff_exp(normal_lcdf(5 | mu[n_2], s), normal_lcdf(0 | mu[n_2], s))"],
        ["normal_id_glm"],
        None,
    ),
    (
        "a fixed simplex",
        "y[i] ~ Categorical([0.2, 0.3, 0.5])\n",
        ["y ~ categorical([0.2, 0.3, 0.5]');", "categorical_rng([0.2, 0.3, 0.5]')"],
        ["functions {"],
        None,
    ),
    (
        "softmax of scalar scores is one vectorised statement",
        "y[i] ~ Categorical(softmax(0, s2, s3))\n[s2, s3] ~ Normal(0, 1)\n",
        ["y ~ categorical_logit([0, s2, s3]');"],
        [],
        None,
    ),
    (
        "softmax of an expression per row hoists it in the generated quantities",
        "y[i] ~ Categorical(softmax(0, a + b * x[i]))\n[a, b] ~ Normal(0, 1)\n",
        ["y[n] ~ categorical_logit([0, a + b * x[n]]');", "vector[N] y_s2 = a + b * x;"],
        [],
        None,
    ),
]


@pytest.mark.parametrize("desc,text,present,absent,functions", CASES, ids=[c[0] for c in CASES])
def test_lowering(desc, text, present, absent, functions, stanc: Path, tmp_path: Path) -> None:
    compiled = compile_source(text)
    assert compiled.ok, [(d.code, d.message) for d in compiled.diagnostics if d.is_error]
    code = compiled.stan_code
    for line in present:
        assert line in code, f"missing {line!r} in:\n{code}"
    for line in absent:
        assert line not in code, f"unexpected {line!r} in:\n{code}"
    if functions is not None:
        assert code.count("_lpmf(int y") == functions
    assert_stanc_accepts(stanc, code, tmp_path)


CAREERS = """\
career[i] ~ Categorical(softmax(0, s2[i], s3[i]))
s2[i] = a2 + b * x[i]
s3[i] = a3 + 2 * b * x[i]
[a2, a3, b] ~ Normal(0, 1)
"""


def test_categorical_outcome_labels_in_predictions() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=200)
    scores = np.column_stack([np.zeros(200), 0.3 + 0.5 * x, -0.2 + 1.0 * x])
    probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    k = (rng.random((200, 1)) > np.cumsum(probs, axis=1)[:, :-1]).sum(axis=1)
    df = pd.DataFrame({"x": x, "career": np.array(["farmer", "teacher", "engineer"])[k]})
    fit = fit_model(CAREERS, df, seed=2, iter_warmup=200, iter_sampling=200)
    # Labels coded in sorted order: engineer = 1, farmer = 2, teacher = 3.
    assert fit.schema.coords["career_category"] == ["engineer", "farmer", "teacher"]
    new = pd.DataFrame({"x": [0.0, 1.0]})
    epred = fit.predict(new, kind="epred")
    assert epred[".category"].tolist() == ["engineer", "farmer", "teacher"] * 2
    assert np.allclose(epred.groupby(level=0)["Estimate"].sum(), 1.0)
    idata = fit.predict(new, kind="epred", output="arviz")
    assert list(idata["predictions"]["career"].coords["category"].values) == ["engineer", "farmer", "teacher"]
    response = fit.predict(new, kind="response", summary=False)
    assert set(response["value"].unique()) <= {1.0, 2.0, 3.0}  # codes, in the order of the labels
    rep = fit.idata.posterior_predictive["career"].values
    assert set(np.unique(rep)) <= {1, 2, 3}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("example", ["monastery_zip", "cats_censored", "truncated_scores"])
def test_examples_fit_on_each_backend(example: str, backend: str) -> None:
    """The functions block, censoring and truncation on both backends (CmdStan skips without
    CMDSTAN): each example on its simulated data, healthy and with its log_lik."""
    path = EXAMPLES / f"{example}.mlm"
    data = re.search(r"Data: (data/[\w.]+\.csv)", path.read_text(encoding="utf-8")).group(1)  # type: ignore[union-attr]
    fit = mlmdsl.Model.from_file(path).fit(
        EXAMPLES / data, backend=backend, chains=2, iter_warmup=200, iter_sampling=200, seed=1, refresh=0
    )
    assert fit.diagnostics()["max_rhat"] < 1.05
    assert np.isfinite(fit.idata.log_likelihood[fit.schema.outcomes[0]].values).all()


PRIOR_CASES = [
    # (example, outcome, check on the simulated outcomes)
    ("monastery_zip", "y", lambda y: (y >= 0).all() and (y == np.round(y)).all() and (y == 0).mean() > 0.1),
    ("visits_hurdle", "visits", lambda y: (y >= 0).all() and (y == np.round(y)).all()),
    ("ucb_betabinomial", "admit", lambda y: (y >= 0).all()),
    ("truncated_counts", "count", lambda y: y.min() >= 1 and y.max() <= 8),
    ("truncated_scores", "score", lambda y: y.min() >= 0),
    ("careers_categorical", "career", lambda y: set(np.unique(y)) <= {1.0, 2.0, 3.0}),
    ("cats_censored", "days", lambda y: y.min() > 0),
]


@pytest.mark.parametrize("example,outcome,ok", PRIOR_CASES, ids=[c[0] for c in PRIOR_CASES])
def test_prior_predictive_simulates_the_new_families(example: str, outcome: str, ok) -> None:
    """mlmdsl.calibration's prior predictive for the Language II outcomes: the family's own draw,
    within a truncation's bounds, categories 1..K; a censored outcome is simulated uncensored."""
    path = EXAMPLES / f"{example}.mlm"
    data = re.search(r"Data: (data/[\w.]+\.csv)", path.read_text(encoding="utf-8")).group(1)  # type: ignore[union-attr]
    pp = mlmdsl.Model.from_file(path).prior_predictive(EXAMPLES / data, draws=50, seed=1)
    y = pp.draws(outcome)
    assert y.shape[0] == 50 and np.isfinite(y).all()
    assert ok(y)
