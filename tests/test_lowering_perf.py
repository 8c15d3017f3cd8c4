"""Lowering for speed: Stan's GLM functions where the linear predictor has population-level
slopes times row columns (the predictor matrix built once, in transformed data).

These tests pin the emitted forms, not timings; the measured gradient speedups on stanli are in
mlmdsl/lower.py (`plan_glm`) and the README. Every program here must also pass the official
stanc3 and give the same log density and gradient as the plain form (checked on stanli).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlmdsl.compiler import compile_source
from mlmdsl.compiler import lower as lowering
from mlmdsl.data import bind
from tests.conftest import EXAMPLES, assert_stanc_accepts

NORMAL = """y[i] ~ Normal(mu[i], sigma)
mu[i] = a[id[i]] + bS * s[i] + bP * p[i]
a[j] ~ Normal(abar, sigma_a)
abar ~ Normal(0, 1)
bS ~ Normal(0, 1)
bP ~ Normal(0, 1)
sigma_a ~ Exponential(1)
sigma ~ Exponential(1)
"""
BERNOULLI = """k[i] ~ Bernoulli(q[i])
logit(q[i]) = a[id[i]] + g[story[i]] + bA * s[i] + p[i] * bI
a[j] ~ Normal(abar, sigma_a)
g[j] ~ Normal(0, sigma_g)
abar ~ Normal(0, 1)
bA ~ Normal(0, 1)
bI ~ Normal(0, 1)
sigma_a ~ Exponential(1)
sigma_g ~ Exponential(1)
"""
POISSON = """n[i] ~ Poisson(lambda[i])
log(lambda[i]) = b * s[i]
b ~ Normal(0, 1)
"""
KLINE = (EXAMPLES / "kline_gampois.mlm").read_text(encoding="utf-8")
SCALAR_INTERCEPT = (
    NORMAL.replace("a[id[i]]", "abar")
    .replace("a[j] ~ Normal(abar, sigma_a)\n", "")
    .replace("sigma_a ~ Exponential(1)\n", "")
)

GLM = [
    # (what, source, the model-block statement, the transformed-data matrix)
    (
        "normal, group intercept",
        NORMAL,
        "y ~ normal_id_glm(X_mu, a[id], [bS, bP]', sigma);",
        "matrix[N, 2] X_mu = append_col(s, p);",
    ),
    (
        "bernoulli-logit, two groupings, a slope written x * b",
        BERNOULLI,
        "k ~ bernoulli_logit_glm(X_q, a[id] + g[story], [bA, bI]');",
        "matrix[N, 2] X_q = append_col(s, p);",
    ),
    (
        "poisson-log, no intercept",
        POISSON,
        "n ~ poisson_log_glm(X_lambda, 0, [b]');",
        "matrix[N, 1] X_lambda = to_matrix(s);",
    ),
    (
        "negbinomial-log, a data-only derived predictor",
        KLINE,
        "total_tools ~ neg_binomial_2_log_glm(X_lambda, a[contact], [b]', phi);",
        "matrix[N, 1] X_lambda = to_matrix(P);",
    ),
    (
        "normal, scalar intercept",
        SCALAR_INTERCEPT,
        "y ~ normal_id_glm(X_mu, abar, [bS, bP]', sigma);",
        "matrix[N, 2] X_mu = append_col(s, p);",
    ),
]


def blocks(code: str) -> dict[str, str]:
    out, name = {}, None
    for line in code.splitlines():
        if line.endswith("{") and not line.startswith(" "):
            name = line[:-2]
            out[name] = ""
        elif name is not None:
            out[name] += line.split("//")[0].strip() + "\n"
    return out


@pytest.mark.parametrize("what,source,statement,matrix", GLM, ids=[g[0] for g in GLM])
def test_glm_form(what, source, statement, matrix) -> None:
    compiled = compile_source(source)
    assert compiled.ok, compiled.diagnostics
    b = blocks(compiled.stan_code)
    assert statement in b["model"].splitlines()
    assert matrix in b["transformed data"].splitlines()
    # The linear predictor is not computed in the model block, only in generated quantities.
    assert "vector[N] " not in b["model"]
    assert "log_lik" in b["generated quantities"]


NOT_GLM = [
    # (what, source, the plain statement that stays)
    ("probit link", (EXAMPLES / "bangladesh_probit.mlm").read_text(encoding="utf-8"), "bernoulli(p)"),
    ("ordered outcome", (EXAMPLES / "trolley.mlm").read_text(encoding="utf-8"), "log_inv_logit(phi"),
    ("group-level slopes only", (EXAMPLES / "sleep_slopes.mlm").read_text(encoding="utf-8"), "normal(mu, sigma)"),
    ("no slopes", (EXAMPLES / "chimpanzees.mlm").read_text(encoding="utf-8"), "bernoulli_logit(logit_p)"),
    (
        "the linear predictor used twice",
        NORMAL.replace("y[i] ~ Normal(mu[i], sigma)", "y[i] ~ Normal(mu[i], sigma)\nz[i] ~ Normal(mu[i], sigma)"),
        "y ~ normal(mu, sigma)",
    ),
    (
        "a slope times a parameter-dependent quantity",
        NORMAL.replace("bS * s[i] + bP * p[i]", "bS * w[i]").replace("bP ~ Normal(0, 1)\n", "")
        + "w[i] = a[id[i]] * s[i]\n",
        "y ~ normal(mu, sigma)",
    ),
]


@pytest.mark.parametrize("what,source,plain", NOT_GLM, ids=[n[0] for n in NOT_GLM])
def test_no_glm_where_it_does_not_apply(what, source, plain) -> None:
    compiled = compile_source(source)
    assert compiled.ok, compiled.diagnostics
    model = blocks(compiled.stan_code)["model"]
    assert "_glm(" not in model
    assert plain in model


@pytest.mark.parametrize("what,source,statement,matrix", GLM, ids=[g[0] for g in GLM])
def test_official_stanc_accepts_glm(what, source, statement, matrix, stanc: Path, tmp_path: Path) -> None:
    assert_stanc_accepts(stanc, compile_source(source).stan_code, tmp_path)


def _data(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "id": rng.integers(1, 11, rows),
            "story": rng.integers(1, 6, rows),
            "s": rng.normal(size=rows),
            "p": rng.normal(size=rows),
            "y": rng.normal(size=rows),
            "k": rng.integers(0, 2, rows),
            "n": rng.poisson(2, rows),
        }
    )


@pytest.mark.parametrize("what,source", [(g[0], g[1]) for g in GLM if g[1] is not KLINE])
def test_glm_density_equals_the_plain_form(what, source, monkeypatch) -> None:
    stanli = pytest.importorskip("stanli")
    glm = compile_source(source, generated_quantities=False)
    data = bind(glm.model, _data()).stan_data
    monkeypatch.setattr(lowering._Lowerer, "plan_glm", lambda self, lk: None)
    plain = compile_source(source, generated_quantities=False)
    assert "_glm(" in glm.stan_code and "_glm(" not in plain.stan_code
    a, b = stanli.Model(stan_code=glm.stan_code, data=data), stanli.Model(stan_code=plain.stan_code, data=data)
    q = np.random.default_rng(0).uniform(-2, 2, a.n_unconstrained)
    (la, ga), (lb, gb) = a.log_prob_grad(q), b.log_prob_grad(q)
    assert np.allclose(ga, gb, rtol=1e-8, atol=1e-8)
    # `~` drops constants: the densities may differ by one, the same at every point.
    q2 = q + 0.3
    assert np.isclose(a.log_prob_grad(q2)[0] - b.log_prob_grad(q2)[0], la - lb, atol=1e-6)
