"""Classes of models a first-week student writes that must become a Stan program the official
stanc3 accepts (issue 9): each row is a model, the Stan lines it must contain and the lines it must
not. Rows name the class, not one instance: every family whose arguments are all scalars, every
pair of likelihoods sharing a linked quantity, every integer literal past Stan's int range."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlmdsl.compiler import compile_source
from mlmdsl.compiler.families import FAMILIES
from tests.conftest import assert_stanc_accepts

# A prior for a scalar parameter of each argument kind.
_PRIOR = {
    "loc": "Normal(0, 1)",
    "scale": "Exponential(1)",
    "positive": "Exponential(1)",
    "prob": "Beta(2, 2)",
    "real": "Normal(0, 1)",
}


def _scalar_model(family: str) -> str:
    """`y[i] ~ F(a1, a2, ...)` with every argument a scalar parameter (trials: a data column)."""
    fam = FAMILIES[family]
    args, priors = [], []
    for k, (name, kind) in enumerate(fam.args):
        if kind == "trials":
            args.append("n_trials[i]")
            continue
        param = f"{name}_{k}"
        args.append(param)
        if fam.name == "Uniform":  # lower < upper must hold for every draw
            priors.append(f"{param} ~ Normal({k * 10}, 1)")
        else:
            priors.append(f"{param} ~ {_PRIOR[kind]}")
    return "\n".join([f"y[i] ~ {family}({', '.join(args)})", *priors]) + "\n"


SCALAR_FAMILIES = sorted(
    name
    for name, f in FAMILIES.items()
    if f.outcome and all(kind in _PRIOR or kind == "trials" for _, kind in f.args)
)


# (description, model, lines the Stan program must contain, lines it must not)
CASES = [
    (
        "scalar mean and sd: the first model of every course",
        "height[i] ~ Normal(mu, sigma)\nmu ~ Normal(150, 20)\nsigma ~ Exponential(1)\n",
        ["for (n in 1:N) height_rep[n] = normal_rng(mu, sigma);"],
        ["height_rep = normal_rng(mu, sigma);"],
    ),
    (
        "binomial with trials per row and a scalar probability",
        "admit[i] ~ Binomial(applications[i], p)\np ~ Beta(1, 1)\n",
        ["admit_rep = binomial_rng(applications, p);"],
        [],
    ),
    (
        "bernoulli with a scalar probability",
        "y[i] ~ Bernoulli(p)\np ~ Beta(1, 1)\n",
        ["for (n in 1:N) y_rep[n] = bernoulli_rng(p);"],
        [],
    ),
    (
        "two Bernoulli outcomes on one linked probability",
        "y1[i] ~ Bernoulli(p[i])\ny2[i] ~ Bernoulli(p[i])\nlogit(p[i]) = a + b * x[i]\n"
        "a ~ Normal(0, 1)\nb ~ Normal(0, 1)\n",
        ["vector[N] logit_p = a + b * x;", "y1 ~ bernoulli_logit(logit_p);", "y2 ~ bernoulli_logit(logit_p);"],
        ["vector[N] p = inv_logit"],
    ),
    (
        "a linked probability used by a shortcut and as a value",
        "y1[i] ~ Bernoulli(p[i])\ny2[i] ~ Normal(p[i], s)\nlogit(p[i]) = a + b * x[i]\n"
        "a ~ Normal(0, 1)\nb ~ Normal(0, 1)\ns ~ Exponential(1)\n",
        ["vector[N] logit_p = a + b * x;", "vector[N] p = inv_logit(logit_p);", "y2 ~ normal(p, s);"],
        [],
    ),
    (
        "two Poisson counts on one log rate",
        "c1[i] ~ Poisson(lambda[i])\nc2[i] ~ Poisson(lambda[i])\nlog(lambda[i]) = a + b * x[i]\n"
        "a ~ Normal(0, 1)\nb ~ Normal(0, 1)\n",
        ["c1 ~ poisson_log(log_lambda);", "c2 ~ poisson_log(log_lambda);"],
        [],
    ),
    (
        "Binomial and Bernoulli on one linked probability with varying intercepts",
        "k[i] ~ Binomial(n[i], p[i])\ny[i] ~ Bernoulli(p[i])\nlogit(p[i]) = a[id[i]]\n"
        "a[j] ~ Normal(abar, s)\nabar ~ Normal(0, 1)\ns ~ Exponential(1)\n",
        ["k ~ binomial_logit(n, logit_p);", "y ~ bernoulli_logit(logit_p);"],
        [],
    ),
    (
        "an integer literal past 2^31 - 1",
        "y[i] ~ Normal(mu, sigma)\nmu ~ Normal(0, 3000000000)\nsigma ~ Exponential(1)\n",
        ["mu ~ normal(0, 3000000000.0);"],
        ["normal(0, 3000000000);"],
    ),
    (
        "a negative integer literal past the int range, in an expression",
        "y[i] ~ Normal(mu[i], sigma)\nmu[i] = a + x[i] / 5000000000 - 9999999999\n"
        "a ~ Normal(-4000000000, 10)\nsigma ~ Exponential(1)\n",
        ["5000000000.0", "9999999999.0", "(-4000000000.0)"],
        [],
    ),
    (
        "a large integer bound from a uniform prior",
        "y[i] ~ Normal(0, sigma)\nsigma ~ Uniform(0, 3000000000)\n",
        ["3000000000.0"],
        ["=3000000000>", "=3000000000;"],
    ),
    (
        "ulam's shared prior c(bA, bI, bC) ~ dnorm(0, 0.5) (rethinking m12.5)",
        "y[i] ~ Normal(mu[i], sigma)\nmu[i] = a + bA * A[i] + bI * I[i] + bC * C[i]\n"
        "c(bA, bI, bC) ~ dnorm(0, 0.5)\na ~ Normal(0, 1)\nsigma ~ Exponential(1)\n",
        ["bA ~ normal(0, 0.5);", "bI ~ normal(0, 0.5);", "bC ~ normal(0, 0.5);"],
        [],
    ),
    (
        "the bracket spelling of a shared prior",
        "y[i] ~ Normal(mu[i], sigma)\nmu[i] = a + bA * A[i] + bI * I[i]\n"
        "[bA, bI] ~ Normal(0, 0.5)\na ~ Normal(0, 1)\nsigma ~ Exponential(1)\n",
        ["bA ~ normal(0, 0.5);", "bI ~ normal(0, 0.5);", "// line 3: [bA, bI] ~ Normal(0, 0.5)"],
        [],
    ),
    (
        "a shared prior with a parameter scale: one statement per name",
        "y[i] ~ Normal(a + b * x[i], sigma)\n[a, b] ~ Normal(0, tau)\n"
        "tau ~ Exponential(1)\nsigma ~ Exponential(1)\n",
        ["a ~ normal(0, tau);", "b ~ normal(0, tau);"],
        [],
    ),
    (
        "non-centred varying intercepts as an explicit standard normal",
        "y[i] ~ Normal(alpha[id[i]], sigma)\nalpha[j] ~ Normal(abar, sigma_a)\nabar ~ Normal(0, 1)\n"
        "sigma_a ~ Exponential(1)\nsigma ~ Exponential(1)\n",
        ["vector[N_id] z_alpha;", "vector[N_id] alpha = abar + sigma_a * z_alpha;", "z_alpha ~ std_normal();"],
        ["offset=", "multiplier="],
    ),
    (
        "non-centred StudentT effects keep their degrees of freedom",
        "y[i] ~ Normal(alpha[id[i]], sigma)\nalpha[j] ~ StudentT(3, abar, sigma_a)\nabar ~ Normal(0, 1)\n"
        "sigma_a ~ Exponential(1)\nsigma ~ Exponential(1)\n",
        ["z_alpha ~ student_t(3, 0, 1);"],
        ["offset="],
    ),
    (
        "@centered still samples the effects themselves",
        "y[i] ~ Normal(alpha[id[i]], sigma)\nalpha[j] ~ Normal(abar, sigma_a) @centered\nabar ~ Normal(0, 1)\n"
        "sigma_a ~ Exponential(1)\nsigma ~ Exponential(1)\n",
        ["vector[N_id] alpha;", "alpha ~ normal(abar, sigma_a);"],
        ["z_alpha"],
    ),
    (
        "non-centred effects whose mean is another non-centred effect (nested)",
        "y[i] ~ Normal(a_class[class[i]], sigma)\na_class[j] ~ Normal(a_school[school[j]], s_c)\n"
        "a_school[k] ~ Normal(m, s_s)\nm ~ Normal(0, 1)\ns_c ~ Exponential(1)\ns_s ~ Exponential(1)\n"
        "sigma ~ Exponential(1)\n",
        ["a_class = a_school[school_by_class] + s_c * z_a_class;"],
        [],
    ),
    (
        "a derived group-level quantity using a non-centred effect comes after it",
        "y[i] ~ Normal(b[id[i]], sigma)\nb[j] = 2 * a[j]\na[j] ~ Normal(0, s)\ns ~ Exponential(1)\n"
        "sigma ~ Exponential(1)\n",
        ["vector[N_id] a = s * z_a;", "vector[N_id] b = 2 * a;"],
        [],
    ),
]


@pytest.mark.parametrize(("desc", "text", "present", "absent"), CASES, ids=[c[0] for c in CASES])
def test_model_class_lowers_to_valid_stan(desc, text, present, absent, stanc: Path, tmp_path: Path) -> None:
    compiled = compile_source(text)
    assert compiled.ok, [(d.code, d.message) for d in compiled.diagnostics if d.is_error]
    code = compiled.stan_code
    assert code is not None
    for line in present:
        assert line in code, f"missing {line!r} in:\n{code}"
    for line in absent:
        assert line not in code, f"unexpected {line!r} in:\n{code}"
    assert_stanc_accepts(stanc, code, tmp_path)


@pytest.mark.parametrize("family", SCALAR_FAMILIES)
def test_every_family_with_scalar_arguments(family: str, stanc: Path, tmp_path: Path) -> None:
    text = _scalar_model(family)
    compiled = compile_source(text)
    assert compiled.ok, (text, [(d.code, d.message) for d in compiled.diagnostics if d.is_error])
    assert_stanc_accepts(stanc, compiled.stan_code, tmp_path, family)


def test_scalar_families_cover_the_catalogue() -> None:
    outcomes = {n for n, f in FAMILIES.items() if f.outcome}
    # OrderedLogistic needs its cutpoints vector, Categorical a simplex or softmax (both in
    # examples/ and tests/test_families_lowering.py); every other outcome family is covered.
    assert outcomes - set(SCALAR_FAMILIES) == {"OrderedLogistic", "Categorical"}


def test_schema_names_the_effect_not_its_standard_normal() -> None:
    compiled = compile_source(CASES[13][1])
    schema = compiled.lowered.schema
    names = {v.stan_name for v in schema.variables}
    assert "alpha" in names and "z_alpha" not in names
    assert next(v for v in schema.variables if v.stan_name == "alpha").role == "group"


def test_shared_prior_keeps_each_name_located() -> None:
    compiled = compile_source("y[i] ~ Normal(mu, sigma)\n[mu, sigma] ~ Exponential(1)\n")
    assert compiled.ok
    samples = compiled.program.statements[1:]
    assert [s.lhs.id for s in samples] == ["mu", "sigma"]
    assert [(s.lhs.span.line, s.lhs.span.column) for s in samples] == [(2, 2), (2, 6)]
    # The schema's statements quote the line once.
    assert compiled.lowered.schema.statements.count("[mu, sigma] ~ Exponential(1)") == 1


def test_correlated_block_keeps_its_meaning() -> None:
    text = (
        "y[i] ~ Normal(a[id[i]] + b[id[i]] * x[i], sigma)\n[a, b][j] ~ MVNormal([abar, bbar], Rho, tau)\n"
        "abar ~ Normal(0, 1)\nbbar ~ Normal(0, 1)\nRho ~ LKJcorr(2)\ntau ~ Exponential(1)\nsigma ~ Exponential(1)\n"
    )
    compiled = compile_source(text)
    assert compiled.ok
    assert "multiply_lower_tri_self_transpose" in compiled.stan_code
    assert len(compiled.model.correlated) == 1


def test_offset_multiplier_form_kept_for_benchmarks() -> None:
    from mlmdsl.compiler.lower import lower

    compiled = compile_source(CASES[13][1])
    old = lower(compiled.model, _offset_multiplier=True)
    decls = [line.code for line in old.program.parameters]
    assert "vector<offset=abar, multiplier=sigma_a>[N_id] alpha;" in decls
