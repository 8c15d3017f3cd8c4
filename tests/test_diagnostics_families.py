"""Language II outcomes misused -> a located error: model rows (description, .mlm text, code,
line, column) and data rows (description, model, table, code, words the message says).

The models are the issue's own examples (rethinking's cats, the monastery, UCB admissions,
careers) with one thing broken each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlmdsl.compiler import compile_source
from mlmdsl.compiler.diagnostics import render_text
from mlmdsl.data.bind import bind
from mlmdsl.data.messages import DataError

CATS = """\
days[i] ~ Exponential(lambda[i]) | censored(1 - adopted[i])
lambda[i] = 1 / mu[i]
log(mu[i]) = a[color[i]]
a[j] ~ Normal(0, 1)
"""

ZIP = """\
y[i] ~ ZIPoisson(p, lambda)
logit(p) = ap
log(lambda) = al
ap ~ Normal(-1.5, 1)
al ~ Normal(1, 0.5)
"""

SCORES = """\
y[i] ~ Normal(mu[i], sigma) T[0, ]
mu[i] = a + b * x[i]
[a, b] ~ Normal(0, 1)
sigma ~ Exponential(1)
"""

DICE = """\
y[i] ~ Categorical(p)
p ~ Dirichlet(2)
"""

CAREERS = """\
career[i] ~ Categorical(softmax(0, s2[i], s3[i]))
s2[i] = b * x[i]
s3[i] = b * 2 * x[i]
b ~ Normal(0, 1)
"""


def edit(base: str, old: str, new: str) -> str:
    assert old in base
    return base.replace(old, new)


ERRORS = [
    # arguments
    ("ZIPoisson with one argument", edit(ZIP, "ZIPoisson(p, lambda)", "ZIPoisson(lambda)"), "E203", 1, 8),
    ("dzibinom without trials", "y[i] ~ dzibinom(p, q)\n[p, q] ~ Beta(1, 1)\n", "E203", 1, 8),
    ("zi of 1.5", edit(ZIP, "ZIPoisson(p, lambda)", "ZIPoisson(1.5, lambda)"), "E204", 1, 18),
    ("negative precision", "y[i] ~ Beta2(p, -2)\np ~ Beta(2, 2)\n", "E204", 1, 17),
    ("BetaBinomial trials from a parameter", "y[i] ~ BetaBinomial(n, p, 3)\nn ~ Exponential(1)\np ~ Beta(1, 1)\n",
     "E204", 1, 21),
    ("hurdle family as a prior", ZIP + "q ~ HurdleGamma(0.5, 2, 2)\n", "E204", 6, 5),
    ("zero-inflated family as a prior", ZIP + "q ~ ZIPoisson(0.5, 2)\n", "E208", 6, 5),
    ("Weibull with a negative shape", "y[i] ~ Weibull(-1, s)\ns ~ Exponential(1)\n", "E204", 1, 16),
    # Categorical
    ("Categorical p not a simplex", "y[i] ~ Categorical([0.2, 0.3, 0.6])\n", "E204", 1, 20),
    ("Categorical p with a negative entry", "y[i] ~ Categorical([-0.2, 0.6, 0.6])\n", "E204", 1, 20),
    ("Categorical p from parameters", "y[i] ~ Categorical([p, 1 - p])\np ~ Beta(1, 1)\n", "E320", 1, 20),
    ("Categorical p with a Beta prior", "y[i] ~ Categorical(p)\np ~ Beta(1, 1)\n", "E204", 2, 5),
    ("softmax with one score", edit(CAREERS, "softmax(0, s2[i], s3[i])", "softmax(s2[i])"), "E204", 1, 25),
    ("softmax outside Categorical", edit(CAREERS, "s2[i] = b * x[i]", "s2[i] = softmax(b, x[i])"), "E201", 2, 9),
    # censoring
    ("misspelled censored", edit(CATS, "censored(", "censor("), "E209", 1, 36),
    ("censored without its column", edit(CATS, "censored(1 - adopted[i])", "censored()"), "E209", 1, 34),
    ("censored with two arguments", edit(CATS, "censored(1 - adopted[i])", "censored(c[i], d[i])"), "E209", 1, 34),
    ("censored Bernoulli makes no sense", "y[i] ~ Bernoulli(p) | censored(c[i])\np ~ Beta(1, 1)\n", "E209", 1, 21),
    ("censored Categorical makes no sense", edit(CAREERS, "s3[i]))", "s3[i])) | censored(c[i])"), "E209", 1, 51),
    ("censored hurdle family has no CDF", "y[i] ~ HurdlePoisson(h, l) | censored(c[i])\nh ~ Beta(1, 1)\n"
     "l ~ Exponential(1)\n", "E209", 1, 28),
    ("censoring computed from a parameter", edit(CATS, "1 - adopted[i]", "1 - a[color[i]]"), "E209", 1, 45),
    ("censoring a number", edit(CATS, "1 - adopted[i]", "1"), "E209", 1, 45),
    ("censoring on a prior", edit(CATS, "a[j] ~ Normal(0, 1)", "a[j] ~ Normal(0, 1) | censored(c[j])"), "E209", 4, 21),
    # truncation
    ("truncation bounds reversed", edit(SCORES, "T[0, ]", "T[5, 1]"), "E210", 1, 29),
    ("truncation bounds equal", edit(SCORES, "T[0, ]", "T[2, 2]"), "E210", 1, 29),
    ("truncation without bounds", edit(SCORES, "T[0, ]", "T[, ]"), "E210", 1, 29),
    ("truncation bound from a derived quantity", edit(SCORES, "T[0, ]", "T[mu[i], ]"), "E210", 1, 31),
    ("truncation bound is a parameter", edit(SCORES, "T[0, ]", "T[, sigma]"), "E210", 1, 33),
    ("truncation bound is the outcome", edit(SCORES, "T[0, ]", "T[, y[i]]"), "E210", 1, 33),
    ("truncation bound from a group column", edit(SCORES, "T[0, ]", "T[lo[g[i]], ]"), "E210", 1, 31),
    ("truncation bound computed per row", edit(SCORES, "T[0, ]", "T[lo[i] - 1, ]"), "E210", 1, 31),
    ("truncation bound indexed by a group letter", edit(SCORES, "T[0, ]", "T[lo[j], ]"), "E210", 1, 31),
    ("fractional bound of a count", "y[i] ~ Poisson(l) T[0.5, ]\nl ~ Exponential(1)\n", "E210", 1, 21),
    ("truncated Binomial makes no sense", "y[i] ~ Binomial(10, p) T[1, ]\np ~ Beta(1, 1)\n", "E210", 1, 24),
    ("truncated zero-inflated family", edit(ZIP, "p, lambda)", "p, lambda) T[, 10]"), "E210", 1, 29),
    ("censored and truncated", edit(CATS, "censored(1 - adopted[i])", "censored(1 - adopted[i]) T[0, 100]"),
     "E210", 1, 61),
    ("truncation on a prior", edit(SCORES, "sigma ~ Exponential(1)", "sigma ~ Normal(0, 1) T[0, ]"), "E210", 4, 22),
    # syntax
    # an estimated simplex: p ~ Dirichlet(alpha) with y[i] ~ Categorical(p)
    ("simplex with a Normal prior", edit(DICE, "Dirichlet(2)", "Normal(0, 1)"), "E204", 2, 5),
    ("Dirichlet on something per row", edit(DICE, "p ~", "p[i] ~"), "E204", 2, 8),
    ("one simplex per group", "y[i] ~ Categorical(p[g[i]])\np[j] ~ Dirichlet(2)\n", "E320", 1, 20),
    ("Dirichlet prior per group", "y[i] ~ Categorical(p[g[i]])\np[j] ~ Dirichlet(2)\n", "E320", 2, 1),
    ("indexing the simplex", edit(DICE, "Categorical(p)", "Categorical(p[g[i]])"), "E320", 1, 20),
    ("simplex without a prior", "y[i] ~ Categorical(p)\n", "E300", 1, 20),
    ("zero concentration", edit(DICE, "Dirichlet(2)", "Dirichlet(0)"), "E204", 2, 15),
    ("negative concentration", edit(DICE, "Dirichlet(2)", "Dirichlet([2, -1, 2])"), "E204", 2, 19),
    ("a single concentration listed", edit(DICE, "Dirichlet(2)", "Dirichlet([2])"), "E204", 2, 15),
    ("concentrations from a parameter", edit(DICE, "Dirichlet(2)", "Dirichlet(alpha)") + "alpha ~ Exponential(1)\n",
     "E320", 2, 15),
    ("Dirichlet on a non-simplex use", "y[i] ~ Normal(mu[i], 1)\nmu[i] = b * x[i]\nb ~ Dirichlet([1, 1])\n",
     "E204", 3, 5),
    ("Dirichlet on a parameter no outcome uses", edit(DICE, "Categorical(p)", "Categorical([0.5, 0.5])"),
     "E204", 2, 5),
    ("one simplex for two outcomes", edit(DICE, "p ~", "coin[i] ~ Categorical(p)\np ~"), "E204", 2, 23),
    ("the simplex used as a value", edit(DICE, "p ~", "z[i] ~ Normal(p, 1)\np ~"), "E312", 2, 15),
    ("truncation with one bound and no comma", edit(SCORES, "T[0, ]", "T[0]"), "E100", 1, 32),
]


@pytest.mark.parametrize("desc,text,code,line,col", ERRORS, ids=[e[0] for e in ERRORS])
def test_error_table(desc: str, text: str, code: str, line: int, col: int) -> None:
    compiled = compile_source(text, "m.mlm")
    errors = [d for d in compiled.diagnostics if d.is_error]
    assert not compiled.ok and errors, desc
    found = [(d.code, d.span.line, d.span.column) for d in errors]
    assert (code, line, col) in found, f"{desc}: got {found}: {[d.message for d in errors]}"
    rendered = render_text(errors, text, "m.mlm")
    assert f"m.mlm:{line}:{col}: error" in rendered and "^" in rendered
    assert "internal error" not in rendered


CLEAN = [
    ("cats", CATS),
    ("monastery", ZIP),
    ("truncated below", SCORES),
    ("truncated above", edit(SCORES, "T[0, ]", "T[, 10]")),
    ("truncated both sides, negative lower bound", edit(SCORES, "T[0, ]", "T[-1.5, 10]")),
    ("bounds from columns", edit(SCORES, "T[0, ]", "T[lo[i], hi[i]]")),
    ("lower bound from a column", edit(SCORES, "T[0, ]", "T[lo[i], ]")),
    ("a number and a column", edit(SCORES, "T[0, ]", "T[0, hi[i]]")),
    ("count capped by a column", "y[i] ~ Poisson(l) T[, cap[i]]\nl ~ Exponential(1)\n"),
    ("careers", CAREERS),
    ("fixed simplex", "y[i] ~ Categorical([0.2, 0.3, 0.5])\n"),
    ("estimated simplex", DICE),
    ("estimated simplex, concentrations listed", edit(DICE, "Dirichlet(2)", "Dirichlet([1, 2, 3])")),
    ("ulam's spelling", "y[i] ~ dcategorical(p)\np ~ ddirichlet(2)\n"),
    ("a column named T", "T[i] ~ Poisson(l[i])\nlog(l[i]) = a\na ~ Normal(0, 1)\n"),
    ("ulam aliases", "y[i] ~ dzipois(p, l)\np ~ dbeta(2, 2)\nl ~ dexp(1)\n"),
]


@pytest.mark.parametrize("desc,text", CLEAN, ids=[c[0] for c in CLEAN])
def test_clean_models_compile(desc: str, text: str) -> None:
    compiled = compile_source(text, "m.mlm")
    assert compiled.ok, render_text(compiled.diagnostics, text, "m.mlm")
    assert not [d for d in compiled.diagnostics if d.severity == "warning"]


# ---- data -----------------------------------------------------------------------------------

WINDOWS = edit(SCORES, "T[0, ]", "T[lo[i], hi[i]]")
_WINDOWS_DATA = pd.DataFrame({"y": [1.0, 2.5, 2.0], "x": [0.0, 1, 2], "lo": [0.0, 1, 0], "hi": [4.0, 3, 5]})
_CATS_DATA = pd.DataFrame({"days": [10.0, 20.0, 5.0], "adopted": [1, 0, 1], "color": ["B", "O", "O"]})

DATA = [
    ("censoring not -1/0/1", CATS, _CATS_DATA.assign(adopted=[1, 3, 0]), "E409", ["-2", "row 2", "-1 (left-censored)"]),
    ("censoring not whole", CATS, _CATS_DATA.assign(adopted=[1, 0.5, 0]), "E409", ["0.5", "row 2"]),
    ("censoring column missing", CATS, _CATS_DATA.drop(columns="adopted"), "E400", ["adopted"]),
    ("outcome below a truncation", SCORES, pd.DataFrame({"y": [1.0, -0.5, 2.0], "x": [0.0, 1, 2]}), "E410",
     ["-0.5", "row 2", "T[0, ]"]),
    ("count above a truncation", "y[i] ~ Poisson(l) T[1, 8]\nl ~ Exponential(1)\n",
     pd.DataFrame({"y": [1, 9, 8, 0]}), "E410", ["9", "0", "rows 2, 4", "T[1, 8]"]),
    ("outcome outside its row's bounds", WINDOWS, _WINDOWS_DATA.assign(y=[1.0, 3.5, 2.0]), "E410",
     ["3.5", "row 2", "T[lo[i], hi[i]]", "[1, 3]", "`lo` and `hi`"]),
    ("bounds reversed in a row", WINDOWS, _WINDOWS_DATA.assign(lo=[0.0, 3.0, 0.0]), "E410",
     ["at or above", "row 2", "`lo` = 3 and `hi` = 3"]),
    ("bounds equal in rows", WINDOWS, _WINDOWS_DATA.assign(lo=[2.0, 3.0, 0.0], hi=[2.0, 3.0, 5.0], y=[2.0, 3.0, 1.0]),
     "E410", ["at or above", "rows 1, 2"]),
    ("bound column missing a value", WINDOWS, _WINDOWS_DATA.assign(hi=[4.0, np.nan, 5.0]), "E401", ["hi", "row 2"]),
    ("bound column absent", WINDOWS, _WINDOWS_DATA.drop(columns="hi"), "E400", ["hi"]),
    ("bound not finite", WINDOWS, _WINDOWS_DATA.assign(hi=[4.0, np.inf, 5.0]), "E408", ["hi", "inf", "row 2"]),
    ("count bound not whole", "y[i] ~ Poisson(l) T[, cap[i]]\nl ~ Exponential(1)\n",
     pd.DataFrame({"y": [1, 2], "cap": [3, 2.5]}), "E405", ["cap", "2.5", "row 2", "truncation bound"]),
    ("count above its row's cap", "y[i] ~ Poisson(l) T[, cap[i]]\nl ~ Exponential(1)\n",
     pd.DataFrame({"y": [1, 4, 6], "cap": [3, 3, 8]}), "E410", ["4", "row 2", "T[, cap[i]]", "`cap`"]),
    ("more categories than concentrations", edit(DICE, "Dirichlet(2)", "Dirichlet([2, 2, 2])"),
     pd.DataFrame({"y": [1, 2, 4, 3]}), "E402", ["4", "row 3", "has 3"]),
    ("more labels than concentrations", edit(DICE, "Dirichlet(2)", "Dirichlet([2, 2])"),
     pd.DataFrame({"y": list("abca")}), "E402", ["value c", "row 3", "has 2"]),
    ("a single category for a simplex", DICE, pd.DataFrame({"y": [1, 1, 1]}), "E402", ["single category"]),
    ("simplex category 0", DICE, pd.DataFrame({"y": [0, 1, 2]}), "E402", ["0", "1, 2, ..., K"]),
    ("ZIPoisson needs counts", ZIP, pd.DataFrame({"y": [0, 1.5, 2]}), "E405", ["1.5", "ZIPoisson"]),
    ("ZIPoisson negative count", ZIP, pd.DataFrame({"y": [0, -1, 2]}), "E402", ["-1", "counts"]),
    ("hurdle amount negative", "y[i] ~ HurdleLogNormal(h, m, s)\nh ~ Beta(1, 1)\nm ~ Normal(0, 1)\n"
     "s ~ Exponential(1)\n", pd.DataFrame({"y": [0.0, -1.0, 2.5]}), "E402", ["-1", "values of 0 or above"]),
    ("beta-binomial above its trials", "y[i] ~ BetaBinomial(n[i], p, t)\np ~ Beta(1, 1)\nt ~ Exponential(1)\n",
     pd.DataFrame({"y": [3, 12], "n": [10, 10]}), "E402", ["exceeds", "`n[i]`", "12 > 10"]),
    ("zero-inflated binomial above its trials", "y[i] ~ ZIBinomial(z, n[i], p)\n[z, p] ~ Beta(1, 1)\n",
     pd.DataFrame({"y": [3, 12], "n": [10, 10]}), "E402", ["exceeds", "`n[i]`"]),
    ("Beta2 at 1", "y[i] ~ Beta2(p, t)\np ~ Beta(1, 1)\nt ~ Exponential(1)\n", pd.DataFrame({"y": [0.5, 1.0]}),
     "E402", ["strictly between 0 and 1"]),
    ("more categories than scores", CAREERS, pd.DataFrame({"career": [1, 2, 4], "x": [0.0, 1, 2]}), "E402",
     ["4", "has 3"]),
    ("category 0", CAREERS, pd.DataFrame({"career": [0, 1, 2], "x": [0.0, 1, 2]}), "E402", ["0", "1, 2, ..., K"]),
    ("more labels than scores", CAREERS, pd.DataFrame({"career": list("abcd"), "x": [0.0, 1, 2, 3]}), "E402",
     ["value d", "row 4", "has 3"]),
    ("Weibull needs positive times", "y[i] ~ Weibull(k, s)\n[k, s] ~ Exponential(1)\n",
     pd.DataFrame({"y": [1.0, 0.0]}), "E402", ["above 0"]),
]


def data_diagnostics(model: str, data: pd.DataFrame) -> list:
    compiled = compile_source(model, "m.mlm")
    assert compiled.model is not None, compiled.diagnostics
    try:
        return bind(compiled.model, data).diagnostics
    except DataError as exc:
        return exc.diagnostics


@pytest.mark.parametrize("desc,model,data,code,words", DATA, ids=[d[0] for d in DATA])
def test_data_table(desc: str, model: str, data: pd.DataFrame, code: str, words: list[str]) -> None:
    found = [d for d in data_diagnostics(model, data) if d.code == code]
    assert found, data_diagnostics(model, data)
    for w in words:
        assert w in found[0].message, found[0].message
    assert found[0].span.line > 0  # located at the use in the model


def test_categorical_labels_are_coded_in_order_and_kept() -> None:
    compiled = compile_source(CAREERS, "m.mlm")
    df = pd.DataFrame({"career": ["teacher", "farmer", "engineer", "farmer"], "x": [0.0, 1, 2, 3]})
    bound = bind(compiled.model, df)
    assert bound.stan_data["career"].tolist() == [3, 2, 1, 2]
    assert bound.labels["career_category"] == ["engineer", "farmer", "teacher"]
    cats = pd.Categorical(["b", "a", "c"], categories=["c", "b", "a"])
    bound = bind(compiled.model, pd.DataFrame({"career": cats, "x": [0.0, 1, 2]}))
    assert bound.stan_data["career"].tolist() == [2, 3, 1]


def test_censoring_indicator_is_computed_from_its_expression() -> None:
    compiled = compile_source(CATS, "m.mlm")
    bound = bind(compiled.model, _CATS_DATA)
    assert bound.stan_data["cens_days"].tolist() == [0, 1, 0]
    assert "adopted" not in bound.stan_data  # read by the binder only
    assert np.array_equal(bound.observed["days"], [10.0, 20.0, 5.0])
