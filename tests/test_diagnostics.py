"""Model in, diagnostic out: every error class of the checker, as a table.

Each row is (description, .mlm text, expected code, line, column). The text is the lecture's
partial-pooling model with one thing broken, so each row reads as "this mistake -> this error".
"""

from __future__ import annotations

import json

import pytest

from mlmdsl.cli import main
from mlmdsl.compiler import compile_source
from mlmdsl.compiler.diagnostics import render_text

BASE = """\
con[i] ~ Normal(mu[i], sigma)
mu[i] = alpha[id[i]]
alpha[j] ~ Normal(abar, sigma_a)
abar ~ Normal(0, 1.5)
sigma_a ~ Exponential(1)
sigma ~ Exponential(1)
"""


def edit(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new)


ERRORS = [
    # syntax
    ("nothing after ~", "con[i] ~\n" + BASE, "E100", 1, 9),
    ("unclosed paren", "mu[i] = (a + b\n", "E100", 1, 15),
    ("stray paren", "a ~ Normal(0, 1))\n", "E100", 1, 17),
    ("R-style arrow", edit("mu[i] = ", "mu[i] <- "), "E101", 2, 7),
    ("missing comma", edit("Normal(0, 1.5)", "Normal(0 1.5)"), "E100", 4, 17),
    ("no operator", "mu[i] a\n", "E100", 1, 7),
    # distributions, functions, links
    ("misspelled distribution", edit("sigma_a ~ Exponential", "sigma_a ~ Exponental"), "E200", 5, 11),
    ("unknown function", edit("alpha[id[i]]", "exq(alpha[id[i]])"), "E201", 2, 9),
    ("unknown link", edit("mu[i] =", "logt(mu[i]) ="), "E202", 2, 1),
    ("too few arguments", edit("Normal(0, 1.5)", "Normal(0)"), "E203", 4, 8),
    ("function arity", edit("alpha[id[i]]", "exp(alpha[id[i]], 2)"), "E203", 2, 9),
    ("negative scale", edit("Normal(0, 1.5)", "Normal(0, -1.5)"), "E204", 4, 18),
    ("zero rate", edit("sigma ~ Exponential(1)", "sigma ~ Exponential(0)"), "E204", 6, 21),
    ("prior-only family as outcome", edit("Normal(mu[i], sigma)", "HalfNormal(sigma)"), "E204", 1, 10),
    ("trials from a parameter", edit("Normal(mu[i], sigma)", "Binomial(sigma, mu[i])"), "E204", 1, 19),
    ("uniform with parameter bounds", edit("abar ~ Normal(0, 1.5)", "abar ~ Uniform(0, sigma)"), "E204", 4, 8),
    ("sampling an expression", BASE + "mu[i] + 1 ~ Normal(0, 1)\n", "E205", 7, 1),
    ("index on the left is not a letter", BASE + "b[id[i]] ~ Normal(0, 1)\n", "E205", 7, 3),
    ("several effects without MVNormal", BASE + "[a, b][j] ~ Normal(0, 1)\n", "E205", 7, 1),
    ("defining a number", BASE + "2 = abar\n", "E206", 7, 1),
    ("unknown directive", "@centred2\n" + BASE, "E207", 1, 1),
    ("discrete prior", edit("abar ~ Normal(0, 1.5)", "abar ~ Poisson(3)"), "E208", 4, 8),
    # names
    ("missing prior", edit("sigma ~ Exponential(1)\n", ""), "E300", 1, 24),
    ("misspelled hyperparameter", edit("sigma_a ~", "sigma_aa ~"), "E300", 3, 25),
    ("misspelled group parameter", edit("alpha[j] ~", "alpah[j] ~"), "E300", 2, 9),
    ("two priors", BASE + "abar ~ Normal(0, 1)\n", "E301", 7, 1),
    ("two likelihoods", BASE + "con[i] ~ Normal(0, 1)\n", "E301", 7, 1),
    ("defined twice", BASE + "mu[i] = abar\n", "E302", 7, 1),
    ("derived and sampled", BASE + "mu ~ Normal(0, 1)\n", "E303", 7, 1),
    ("outcome with a prior", BASE + "con ~ Normal(0, 1)\n", "E303", 7, 1),
    ("circular definition", edit("mu[i] = alpha[id[i]]", "mu[i] = alpha[id[i]] + nu[i]\nnu[i] = mu[i]"), "E304", 2, 1),
    ("no likelihood", "abar ~ Normal(0, 1)\n", "E305", 1, 1),
    # indices and domains
    ("unbound letter in an index", edit("alpha[id[i]]", "alpha[id[k]]"), "E310", 2, 18),
    ("group letter in a row statement", edit("alpha[id[i]]", "alpha[j]"), "E310", 2, 15),
    ("scalar indexed", edit("mu[i] = alpha[id[i]]", "mu[i] = alpha[id[i]] + abar[id[i]]"), "E311", 2, 24),
    ("scalar derived indexed", BASE + "m = abar\nnu[i] = m[i]\ny[i] ~ Normal(nu[i], 1)\n", "E311", 8, 9),
    ("indexed parameter without index", edit("mu[i] = alpha[id[i]]", "mu[i] = alpha[id[i]] + alpha"), "E312", 2, 24),
    ("data column without index", edit("mu[i] = alpha[id[i]]", "mu[i] = alpha[id[i]] + x\nz[i] = x[i]"), "E312", 2, 24),
    ("index letter as a value", edit("mu[i] = alpha[id[i]]", "mu[i] = alpha[id[i]] + i"), "E312", 2, 24),
    ("two groupings for one parameter", BASE + "nu[i] = alpha[group[i]]\n", "E313", 7, 9),
    ("row index in a group statement", edit("Normal(abar, sigma_a)", "Normal(abar + x[i], sigma_a)"), "E314", 3, 28),
    ("outcome at group level", edit("Normal(abar, sigma_a)", "Normal(abar + con[j], sigma_a)"), "E314", 3, 26),
    ("row-level derived at group level", edit("Normal(abar, sigma_a)", "Normal(abar + mu[j], sigma_a)"), "E314", 3, 26),
    ("parameter as an index", edit("alpha[id[i]]", "alpha[abar[i]]"), "E315", 2, 15),
    ("outcome as an index", edit("alpha[id[i]]", "alpha[con[i]]"), "E315", 2, 15),
    ("arithmetic as an index", edit("alpha[id[i]]", "alpha[id[i] + 1]"), "E315", 2, 15),
    ("group parameter never used with data", BASE + "u[j] ~ Normal(0, sigma_a)\n", "E316", 7, 1),
    ("two indices", edit("alpha[id[i]]", "alpha[id[i], id[i]]"), "E317", 2, 9),
]


# Correlated varying effects and ordered outcomes (issue 4), on the lecture's sleep-study and
# Trolley models.
SLEEP = """\
Reaction[i] ~ Normal(mu[i], sigma)
mu[i] = a[Subject[i]] + b[Subject[i]] * Days[i]
[a, b][j] ~ MVNormal([abar, bbar], Rho, tau)
abar ~ Normal(250, 50)
bbar ~ Normal(10, 10)
tau ~ Exponential(0.05)
Rho ~ LKJcorr(2)
sigma ~ Exponential(0.05)
"""

TROLLEY = """\
response[i] ~ OrderedLogistic(phi[i], cutpoints)
phi[i] = bA * action[i] + a[id[i]]
cutpoints ~ Normal(0, 1.5)
bA ~ Normal(0, 0.5)
a[j] ~ Normal(0, sigma_a)
sigma_a ~ Exponential(1)
"""


def sleep(old: str, new: str) -> str:
    assert old in SLEEP
    return SLEEP.replace(old, new)


def trolley(old: str, new: str) -> str:
    assert old in TROLLEY
    return TROLLEY.replace(old, new)


ERRORS += [
    # correlated effects
    ("effects on different groupings", sleep("b[Subject[i]]", "b[Item[i]]"), "E319", 2, 25),
    ("MVNormal mean too short", sleep("[abar, bbar]", "[abar]"), "E204", 3, 22),
    ("MVNormal mean too long", sleep("[abar, bbar]", "c(abar, bbar, 0)"), "E204", 3, 22),
    ("MVNormal mean not a vector", sleep("[abar, bbar]", "abar"), "E320", 3, 22),
    ("correlation matrix with a Normal prior", sleep("Rho ~ LKJcorr(2)", "Rho ~ Normal(0, 1)"), "E204", 3, 36),
    ("correlation matrix a number", sleep("Rho, tau)", "0.5, tau)").replace("Rho ~ LKJcorr(2)\n", ""), "E320", 3, 36),
    ("scales an expression", sleep("Rho, tau)", "Rho, 2 * tau)"), "E320", 3, 41),
    ("LKJcorr on a scale", sleep("sigma ~ Exponential(0.05)", "sigma ~ LKJcorr(2)"), "E204", 8, 9),
    ("LKJcorr on an unused matrix", SLEEP + "Omega ~ LKJcorr(2)\n", "E204", 9, 9),
    ("scales used as one value", sleep("Normal(mu[i], sigma)", "Normal(mu[i], tau)"), "E312", 1, 29),
    ("correlation matrix used as a value", sleep("Normal(mu[i], sigma)", "Normal(mu[i] + Rho, sigma)"), "E312", 1, 30),
    ("one correlated effect", sleep("[a, b][j]", "[a][j]"), "E205", 3, 1),
    ("correlated effects per row", sleep("[a, b][j]", "[a, b][i]"), "E314", 3, 8),
    ("correlated effect never used", sleep(" + b[Subject[i]] * Days[i]", ""), "E316", 3, 5),
    ("correlated effect with its own prior", SLEEP + "a[j] ~ Normal(0, 1)\n", "E301", 9, 1),
    (
        "one Rho for two MVNormals",
        sleep("* Days[i]", "* Days[i] + c[Item[i]] + d[Item[i]]") + "[c, d][k] ~ MVNormal(0, Rho, tau)\n",
        "E204",
        9,
        25,
    ),
    ("MVNormal on a scalar", SLEEP + "q ~ MVNormal([0, 0], Rho, tau)\n", "E205", 9, 1),
    # ordered outcomes
    ("cutpoints a number", trolley("phi[i], cutpoints)", "phi[i], 0.5)"), "E320", 1, 39),
    ("cutpoints indexed", trolley("phi[i], cutpoints)", "phi[i], cutpoints[id[i]])"), "E320", 1, 39),
    ("cutpoints with a positive prior", trolley("Normal(0, 1.5)", "Exponential(1)"), "E204", 3, 13),
    ("cutpoints one per group", trolley("cutpoints ~ Normal", "cutpoints[j] ~ Normal"), "E320", 3, 1),
    ("cutpoints in a Normal outcome", TROLLEY + "y2[i] ~ Normal(cutpoints, 1)\n", "E312", 7, 16),
    ("cutpoints in a Bernoulli outcome", TROLLEY + "y2[i] ~ Bernoulli(cutpoints)\n", "E312", 7, 19),
    ("cutpoints of two outcomes", TROLLEY + "r2[i] ~ OrderedLogistic(phi[i], cutpoints)\n", "E204", 7, 33),
    ("ordered logistic as a prior", trolley("bA ~ Normal(0, 0.5)", "bA ~ OrderedLogistic(0, cutpoints)"), "E208", 4, 6),
    ("cutpoints without a prior", trolley("cutpoints ~ Normal(0, 1.5)\n", ""), "E300", 1, 39),
]


@pytest.mark.parametrize("desc,text,code,line,col", ERRORS, ids=[e[0] for e in ERRORS])
def test_error_table(desc: str, text: str, code: str, line: int, col: int) -> None:
    compiled = compile_source(text, "m.mlm")
    errors = [d for d in compiled.diagnostics if d.is_error]
    assert not compiled.ok
    assert errors, desc
    first = errors[0]
    found = [(d.code, d.span.line, d.span.column) for d in errors]
    assert (code, line, col) in found, f"{desc}: got {found}"
    # The rendered form is FILE:LINE:COL, the source line and a caret.
    text_out = render_text(errors, text, "m.mlm")
    if first.span.line:
        assert f"m.mlm:{first.span.line}:{first.span.column}: error:" in text_out
        assert "^" in text_out


WARNINGS = [
    ("unused parameter", BASE + "beta ~ Normal(0, 1)\n", "W500", 7, 1),
    ("unused derived", BASE + "nu[i] = mu[i] * 2\n", "W501", 7, 1),
    (
        "two intercept means summed",
        "y[i] ~ Normal(mu[i], sigma)\nmu[i] = a[actor[i]] + g[block[i]]\na[j] ~ Normal(abar, sa)\n"
        "g[j] ~ Normal(gbar, sg)\nabar ~ Normal(0, 1)\ngbar ~ Normal(0, 1)\nsa ~ Exponential(1)\n"
        "sg ~ Exponential(1)\nsigma ~ Exponential(1)\n",
        "W502",
        2,
        1,
    ),
    (
        "scalar intercept plus a group mean",
        edit("mu[i] = alpha[id[i]]", "mu[i] = a0 + alpha[id[i]]") + "a0 ~ Normal(0, 1)\n",
        "W502",
        2,
        1,
    ),
    ("group column read as data", BASE + "nu[i] = mu[i] + w[id[i]]\ny[i] ~ Normal(nu[i], 1)\n", "W503", 7, 17),
    (
        "centred because constrained",
        edit("alpha[j] ~ Normal(abar, sigma_a)", "alpha[j] ~ Normal(abar, sigma_a)\ny2[i] ~ Normal(0, alpha[id[i]])"),
        "W504",
        3,
        1,
    ),
]


@pytest.mark.parametrize("desc,text,code,line,col", WARNINGS, ids=[w[0] for w in WARNINGS])
def test_warning_table(desc: str, text: str, code: str, line: int, col: int) -> None:
    compiled = compile_source(text, "m.mlm")
    assert compiled.ok, [d for d in compiled.diagnostics if d.is_error]
    found = [(d.code, d.span.line, d.span.column) for d in compiled.diagnostics]
    assert (code, line, col) in found, f"{desc}: got {found}"


CLEAN = [
    ("lecture partial pooling", BASE),
    ("greek letters", "y[i] ~ Normal(μ[i], σ)\nμ[i] = α[id[i]]\nα[j] ~ Normal(ᾱ, σ_α)\nᾱ ~ Normal(0, 1)\n"
     "σ_α ~ Exponential(1)\nσ ~ Exponential(1)\n"),
    ("ulam aliases", "y[i] ~ dnorm(mu[i], sigma)\nmu[i] = a[id[i]]\na[j] ~ dnorm(abar, s)\nabar ~ dnorm(0, 1)\n"
     "s ~ dexp(1)\nsigma ~ dexp(1)\n"),
    ("wrapped line", "y[i] ~ Normal(mu[i], sigma)\nmu[i] = a[id[i]] +\n    b * x[i]\na[j] ~ Normal(0, s)\n"
     "b ~ Normal(0, 1)\ns ~ Exponential(1)\nsigma ~ Exponential(1)\n"),
    ("another row letter", "@rows n\ny[n] ~ Normal(mu[n], sigma)\nmu[n] = a[id[n]]\na[j] ~ Normal(0, s)\n"
     "s ~ Exponential(1)\nsigma ~ Exponential(1)\n"),
    ("group-level predictor", edit("Normal(abar, sigma_a)", "Normal(abar + b * z[j], sigma_a)") + "b ~ Normal(0, 1)\n"),
    ("correlated effects", SLEEP),
    ("correlated effects, ulam spelling", sleep("[a, b][j] ~ MVNormal([", "c(a, b)[j] ~ multi_normal([")),
    (
        "correlated effects with mean zero",
        sleep("[abar, bbar]", "0")
        .replace("abar ~ Normal(250, 50)\n", "a0 ~ Normal(250, 50)\n")
        .replace("mu[i] = a[", "mu[i] = a0 + a[")
        .replace("bbar ~ Normal(10, 10)\n", ""),
    ),
    ("ordered outcome", TROLLEY),
    ("intercept-only ordered outcome", "y[i] ~ OrderedLogistic(0, c)\nc ~ Normal(0, 1.5)\n"),
    ("nested groupings", "y[i] ~ Normal(mu[i], s)\nmu[i] = a[class[i]]\na[j] ~ Normal(b[school[j]], sc)\n"
     "b[k] ~ Normal(0, ss)\ns ~ Exponential(1)\nsc ~ Exponential(1)\nss ~ Exponential(1)\n"),
]


@pytest.mark.parametrize("desc,text", CLEAN, ids=[c[0] for c in CLEAN])
def test_clean_models_compile_without_warnings(desc: str, text: str) -> None:
    compiled = compile_source(text, "m.mlm")
    assert compiled.ok, render_text(compiled.diagnostics, text, "m.mlm")
    assert not [d for d in compiled.diagnostics if d.severity == "warning"]


def test_several_errors_in_one_run() -> None:
    text = edit("sigma_a ~ Exponential", "sigma_a ~ Exponental") + "nu[i] = alpha[group[i]]\n"
    codes = {d.code for d in compile_source(text, "m.mlm").diagnostics if d.is_error}
    assert {"E200", "E313"} <= codes


def test_check_json_for_editors(tmp_path, capsys) -> None:
    model = tmp_path / "bad.mlm"
    model.write_text(edit("sigma ~ Exponential(1)\n", ""), encoding="utf-8")
    assert main(["check", str(model), "--format", "json"]) == 1
    rows = json.loads(capsys.readouterr().out)
    err = next(r for r in rows if r["severity"] == "error")
    assert set(err) == {"file", "line", "column", "end_line", "end_column", "severity", "code", "message"}
    assert (err["code"], err["line"], err["column"], err["end_column"]) == ("E300", 1, 24, 29)


def test_check_text_exit_codes(tmp_path, capsys) -> None:
    good = tmp_path / "good.mlm"
    good.write_text(BASE, encoding="utf-8")
    assert main(["check", str(good)]) == 0
    bad = tmp_path / "bad.mlm"
    bad.write_text(edit("abar ~ Normal(0, 1.5)", "abar ~ Normal(0)"), encoding="utf-8")
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:4:8: error: Normal takes 2 arguments" in err
    assert "   4 | abar ~ Normal(0)" in err


def test_missing_model_file_is_a_usage_error(capsys) -> None:
    assert main(["check", "does/not/exist.mlm"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_student_t_likelihood_roles() -> None:
    """nu and sigma of a StudentT likelihood are distributional parameters; mu is the mean."""
    text = (
        "y[i] ~ StudentT(nu, mu[i], sigma)\nmu[i] = a[id[i]]\na[j] ~ Normal(abar, s)\nabar ~ Normal(0, 1)\n"
        "s ~ Exponential(1)\nnu ~ Gamma(2, 0.1)\nsigma ~ Exponential(1)\n"
    )
    compiled = compile_source(text, "m.mlm")
    assert compiled.ok
    roles = {p.name: p.role for p in compiled.model.params}
    assert roles["nu"] == "distributional" and roles["sigma"] == "distributional"
    assert "y ~ student_t(nu, mu, sigma);" in compiled.stan_code
