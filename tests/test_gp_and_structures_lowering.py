"""Issue 14's structures, model -> Stan: the lines each new form must produce (the golden files
show whole programs; these rows pin the forms themselves, generic in sizes)."""
# ruff: noqa: E501

from __future__ import annotations

import pytest

from mlmdsl.compiler import compile_source
from tests.conftest import assert_stanc_accepts

BASE = """\
y[i] ~ Normal(mu[i], sigma)
sigma ~ Exponential(1)
"""

ROWS = [
    (
        "imputed row-level column",
        BASE + "mu[i] = a + bx * x[i]\nx[i] ~ Normal(nu, tau)\na ~ Normal(0, 1)\nbx ~ Normal(0, 1)\nnu ~ Normal(0, 1)\ntau ~ Exponential(1)\n",
        [
            "vector[N] x_data;",
            "int<lower=0, upper=N> N_x_missing;",
            "array[N_x_missing] int<lower=1, upper=N> x_missing_rows;",
            "vector[N_x_missing] x_impute;",
            "vector[N] x = x_data;",
            "x[x_missing_rows] = x_impute;",
            "x ~ normal(nu, tau);",
            "vector[N] mu = a + bx * x;",
        ],
        ["x_rep", "log_lik_x", "to_matrix(x)"],
    ),
    (
        "a quantity computed from a modelled column is not data",
        BASE + "mu[i] = a + bx * xc[i]\nxc[i] = x[i] - 0.5\nx[i] ~ Normal(nu, tau)\na ~ Normal(0, 1)\nbx ~ Normal(0, 1)\nnu ~ Normal(0, 1)\ntau ~ Exponential(1)\n",
        ["  vector[N] xc = x - 0.5;"],
        ["transformed data"],
    ),
    (
        "positive modelled column keeps its support",
        BASE + "mu[i] = a + bx * x[i]\nx[i] ~ LogNormal(nu, tau)\na ~ Normal(0, 1)\nbx ~ Normal(0, 1)\nnu ~ Normal(0, 1)\ntau ~ Exponential(1)\n",
        ["vector<lower=0>[N_x_missing] x_impute;"],
        [],
    ),
    (
        "discrete modelled column is read as data",
        BASE + "mu[i] = a + bx * x[i]\nx[i] ~ Poisson(lam)\na ~ Normal(0, 1)\nbx ~ Normal(0, 1)\nlam ~ Exponential(1)\n",
        ["array[N] int<lower=0> x;"],
        ["x_impute", "N_x_missing"],
    ),
    (
        "StudentT group effect, non-centred",
        BASE + "mu[i] = a[g[i]]\na[j] ~ StudentT(nu, abar, s)\nnu ~ Gamma(2, 0.1)\nabar ~ Normal(0, 1)\ns ~ Exponential(1)\n",
        ["vector[N_g] a = abar + s * z_a;", "z_a ~ student_t(nu, 0, 1);"],
        ["\n  a ~ student_t"],
    ),
    (
        "Cauchy group effect, non-centred",
        BASE + "mu[i] = a[g[i]]\na[j] ~ Cauchy(0, s)\ns ~ Exponential(1)\n",
        ["vector[N_g] a = s * z_a;", "z_a ~ cauchy(0, 1);"],
        [],
    ),
    (
        "sum-to-zero effect with its scale corrected",
        BASE + "mu[i] = a + b[k[i]]\nb[j] ~ Normal(0, s) @sum_to_zero\na ~ Normal(0, 1)\ns ~ Exponential(1)\n",
        ["sum_to_zero_vector[N_k] b;", "b ~ normal(0, s * inv(sqrt(1 - inv(N_k))));"],
        ["z_b"],
    ),
    (
        "GP with cov_GPL2",
        BASE + "mu[i] = k[s[i]]\nk[j] ~ MVNormal(0, K)\nK = cov_GPL2(D, eta, r, 0.01)\neta ~ Exponential(1)\nr ~ Exponential(1)\n",
        [
            "matrix[N_s, N_s] D;",
            "vector[N_s] z_k;",
            "cholesky_decompose(add_diag(eta * exp(-r * square(D)), 0.01));",
            "z_k ~ std_normal();",
        ],
        ["matrix[N_s, N_s] K"],
    ),
    (
        "GP with cov_GPL1 and a mean",
        BASE + "mu[i] = k[s[i]]\nk[j] ~ MVNormal(m, K)\nK = cov_GPL1(D, eta, r, 0)\neta ~ Exponential(1)\nr ~ Exponential(1)\nm ~ Normal(0, 1)\n",
        ["add_diag(eta * exp(-r * D), 0)", "k = m + L_K"],
        [],
    ),
]


@pytest.mark.parametrize(("what", "text", "present", "absent"), ROWS, ids=[r[0] for r in ROWS])
def test_lowering(what: str, text: str, present: list[str], absent: list[str], stanc, tmp_path) -> None:
    compiled = compile_source(text)
    assert compiled.ok, [d.message for d in compiled.diagnostics if d.is_error]
    code = compiled.stan_code
    assert code is not None
    for line in present:
        assert line in code, f"{what}: {line!r} not in\n{code}"
    for line in absent:
        assert line not in code, f"{what}: {line!r} in\n{code}"
    assert_stanc_accepts(stanc, code.replace("sum_to_zero_vector[", "vector["), tmp_path)  # stanc3 2.35 predates it
