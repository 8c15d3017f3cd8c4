"""Issue 14 (modelled columns, robust and sum-to-zero effects, Gaussian processes): every misuse
as a table row. Model rows are (description, .mlm text, code, line, column); data rows are
(description, model, data, code, words the message must contain). One row per line, however long.
"""
# ruff: noqa: E501

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlmdsl.cli import main
from mlmdsl.compiler import compile_source
from mlmdsl.data import DataError, bind

IMPUTE = """\
K[i] ~ Normal(mu[i], sigma)
mu[i] = a + bB * B[i]
B[i] ~ Normal(nu, sigma_B)
a ~ Normal(0, 1)
bB ~ Normal(0, 1)
nu ~ Normal(0, 1)
sigma_B ~ Exponential(1)
sigma ~ Exponential(1)
"""

EFFECTS = """\
y[i] ~ Normal(mu[i], sigma)
mu[i] = a[g[i]] + b[k[i]]
a[j] ~ StudentT(3, abar, sigma_a)
b[j] ~ Normal(0, sigma_b) @sum_to_zero
abar ~ Normal(0, 1)
sigma_a ~ Exponential(1)
sigma_b ~ Exponential(1)
sigma ~ Exponential(1)
"""

GP = """\
T[i] ~ Poisson(lambda[i])
lambda[i] = exp(a + k[society[i]])
k[j] ~ MVNormal(0, K)
K = cov_GPL2(Dmat, etasq, rhosq, 0.01)
a ~ Normal(1, 1)
etasq ~ Exponential(2)
rhosq ~ Exponential(0.5)
"""


def edit(base: str, old: str, new: str) -> str:
    assert old in base, old
    return base.replace(old, new)


ERRORS = [
    # modelled columns
    ("modelled column as an index", edit(IMPUTE, "a + bB * B[i]", "a + c[B[i]]") + "c[j] ~ Normal(0, 1)\n", "E315", 2, 15),
    ("modelled column at group level", IMPUTE + "u[j] ~ Normal(B[j], 1)\nv[i] = u[g[i]]\nw[i] ~ Normal(v[i], 1)\n", "E314", 9, 15),
    ("modelled column without an index", edit(IMPUTE, "bB * B[i]", "bB * B"), "E312", 2, 18),
    # robust group effects
    ("StudentT group effect with a negative nu", edit(EFFECTS, "StudentT(3,", "StudentT(-3,"), "E204", 3, 17),
    ("StudentT group effect missing an argument", edit(EFFECTS, "StudentT(3, abar, sigma_a)", "StudentT(abar, sigma_a)"), "E203", 3, 8),
    # @sum_to_zero
    ("sum_to_zero on a scalar", edit(EFFECTS, "abar ~ Normal(0, 1)", "abar ~ Normal(0, 1) @sum_to_zero"), "E330", 5, 21),
    ("sum_to_zero on an outcome", edit(EFFECTS, "y[i] ~ Normal(mu[i], sigma)", "y[i] ~ Normal(mu[i], sigma) @sum_to_zero"), "E330", 1, 29),
    ("sum_to_zero with a non-zero mean", edit(EFFECTS, "Normal(0, sigma_b) @sum_to_zero", "Normal(abar, sigma_b) @sum_to_zero"), "E330", 4, 15),
    ("sum_to_zero with another family", edit(EFFECTS, "Normal(0, sigma_b) @sum_to_zero", "Cauchy(0, sigma_b) @sum_to_zero"), "E330", 4, 8),
    ("sum_to_zero and non-centred", edit(EFFECTS, "@sum_to_zero", "@sum_to_zero @noncentered"), "E330", 4, 40),
    ("misspelled annotation", edit(EFFECTS, "@sum_to_zero", "@sum_to_zer0"), "E207", 4, 27),
    # Gaussian processes
    ("GP over the rows", edit(GP, "k[j] ~ MVNormal", "k[i] ~ MVNormal"), "E331", 3, 1),
    ("GP covariance written inline", edit(GP, "MVNormal(0, K)", "MVNormal(0, etasq)"), "E331", 3, 20),
    ("GP covariance not a kernel", edit(GP, "MVNormal(0, K)", "MVNormal(0, etasq * 2)"), "E331", 3, 20),
    ("GP mean indexed", edit(GP, "MVNormal(0, K)", "MVNormal(a[j], K)"), "E311", 3, 17),
    ("kernel never used", GP + "K2 = cov_GPL1(Dmat, etasq, rhosq, 0.01)\n", "E331", 8, 1),
    ("kernel used as a value", edit(GP, "exp(a + k[society[i]])", "exp(a + k[society[i]] + K)"), "E331", 2, 37),
    ("kernel with three arguments", edit(GP, "cov_GPL2(Dmat, etasq, rhosq, 0.01)", "cov_GPL2(Dmat, etasq, rhosq)"), "E203", 4, 5),
    ("kernel distances not a name", edit(GP, "cov_GPL2(Dmat,", "cov_GPL2(Dmat[j],"), "E331", 4, 14),
    ("kernel with a negative delta", edit(GP, "rhosq, 0.01)", "rhosq, -0.01)"), "E331", 4, 34),
    ("distance matrix used as a value", edit(GP, "exp(a + k[society[i]])", "exp(a + k[society[i]] + Dmat)"), "E331", 2, 37),
    ("two effects on one kernel", GP + "m[j] ~ MVNormal(0, K)\nT2[i] ~ Poisson(exp(m[society[i]]))\n", "E331", 8, 20),
    ("three-argument MVNormal on one effect", edit(GP, "MVNormal(0, K)", "MVNormal(0, K, etasq)"), "E205", 3, 1),
]


@pytest.mark.parametrize(("what", "text", "code", "line", "col"), ERRORS, ids=[r[0] for r in ERRORS])
def test_error(what: str, text: str, code: str, line: int, col: int) -> None:
    compiled = compile_source(text, "m.mlm")
    errors = [d for d in compiled.diagnostics if d.is_error]
    assert errors, f"{what}: no error"
    got = [(d.code, d.span.line, d.span.column) for d in errors]
    assert (code, line, col) in got, f"{what}: {got}: {[d.message for d in errors]}"
    assert not compiled.ok


def test_identification_lint_offers_sum_to_zero() -> None:
    text = edit(EFFECTS, "Normal(0, sigma_b) @sum_to_zero", "Normal(bbar, sigma_b)") + "bbar ~ Normal(0, 1)\n"
    w = [d for d in compile_source(text).diagnostics if d.code == "W502"]
    assert w and "@sum_to_zero" in (w[0].hint or "")


# ---- data -----------------------------------------------------------------------------------

def _table(n: int = 12, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"K": rng.normal(size=n), "B": rng.normal(size=n), "x": rng.normal(size=n)})


def _gp_table() -> pd.DataFrame:
    return pd.DataFrame({"T": [3, 5, 2, 7, 4, 6], "society": ["A", "B", "C", "A", "B", "C"]})


def _dist(labels=("A", "B", "C"), values=None) -> pd.DataFrame:
    d = np.array([[0, 1, 2], [1, 0, 1.5], [2, 1.5, 0]], dtype=float) if values is None else values
    return pd.DataFrame(d, index=list(labels), columns=list(labels))


def _with_missing(df: pd.DataFrame, col: str, rows: list[int]) -> pd.DataFrame:
    df = df.copy()
    df.loc[rows, col] = np.nan
    return df


POISSON_B = edit(IMPUTE, "B[i] ~ Normal(nu, sigma_B)", "B[i] ~ Poisson(nu)").replace("nu ~ Normal(0, 1)", "nu ~ Exponential(1)")
X_MODEL = edit(IMPUTE, "a + bB * B[i]", "a + bB * B[i] + x[i]")

DATA_ERRORS = [
    ("missing values in a column that is not modelled", X_MODEL, _with_missing(_table(), "x", [2, 5]),
     "E401", ["`x` has 2 missing values", "x[i] ~ Normal(nu_x, sigma_x)"]),
    ("discrete modelled column with missing values", POISSON_B,
     _with_missing(_table().assign(B=np.arange(12)), "B", [3]), "E401", ["marginalis", "Poisson"]),
    ("modelled column outside its support", edit(IMPUTE, "B[i] ~ Normal(nu, sigma_B)", "B[i] ~ LogNormal(nu, sigma_B)"),
     _with_missing(_table().assign(B=-1.0), "B", [0]), "E402", ["B"]),
    ("matrix missing", GP, _gp_table(), "E420", ["`Dmat` is not in the data", "--data-matrix"]),
    ("matrix without a level", GP, {"table": _gp_table(), "Dmat": _dist(("A", "B", "D"))}, "E420", ['level "C"']),
    ("matrix not square", GP, {"table": _gp_table(), "Dmat": _dist().iloc[:, :2]}, "E420", ["square", "3 x 2"]),
    ("array of the wrong size", GP, {"table": _gp_table(), "Dmat": np.zeros((2, 2))}, "E420", ["3 levels"]),
    ("matrix not symmetric", GP, {"table": _gp_table(), "Dmat": _dist(values=np.array([[0, 1, 2], [1, 0, 1.5], [2, 9, 0]]))},
     "E420", ["not symmetric", 'row "C", column "B"']),
    ("negative distance", GP, {"table": _gp_table(), "Dmat": _dist(values=-np.array([[0, 1, 2], [1, 0, 1.5], [2, 1.5, 0]]))},
     "E420", ["negative distance"]),
    ("missing distance", GP, {"table": _gp_table(), "Dmat": _dist(values=np.array([[0, 1, np.nan], [1, 0, 1.5], [np.nan, 1.5, 0]]))},
     "E420", ["finite"]),
    ("matrix the model does not use", GP, {"table": _gp_table(), "Dmat": _dist(), "Dmatt": _dist()}, "E420", ["`Dmatt`"]),
]


@pytest.mark.parametrize(("what", "model", "data", "code", "words"), DATA_ERRORS, ids=[r[0] for r in DATA_ERRORS])
def test_data_error(what: str, model: str, data, code: str, words: list[str]) -> None:
    compiled = compile_source(model, "m.mlm")
    assert compiled.ok, compiled.diagnostics
    with pytest.raises(DataError) as info:
        bind(compiled.model, data)
    found = [d for d in info.value.diagnostics if d.code == code]
    assert found, f"{what}: {[(d.code, d.message) for d in info.value.diagnostics]}"
    text = " ".join(f"{d.message} {d.hint or ''}" for d in found)
    for w in words:
        assert w in text, f"{what}: {w!r} not in {text!r}"
    assert all(d.span.line > 0 for d in found if "uses no matrix" not in d.message), f"{what}: not located"


def test_group_effect_named_like_a_column_warns() -> None:
    text = "y[i] ~ Normal(mu[i], 1)\nmu[i] = z[g[i]]\nz[j] ~ Normal(nu, 1)\nnu ~ Normal(0, 1)\n"
    df = pd.DataFrame({"y": [0.1, 0.2, 0.3, 0.4], "g": [1, 1, 2, 2], "z": [1.0, 1.0, np.nan, np.nan]})
    warned = [d for d in bind(compile_source(text).model, df).diagnostics if d.code == "W520"]
    assert warned and "not read" in warned[0].message and (warned[0].span.line, warned[0].span.column) == (3, 1)
    assert not [d for d in bind(compile_source(text).model, df.drop(columns="z")).diagnostics if d.code == "W520"]


def test_matrix_labelled_in_any_order_binds_in_level_order() -> None:
    compiled = compile_source(GP)
    d = _dist()
    shuffled = d.loc[["C", "A", "B"], ["B", "C", "A"]]
    bound = bind(compiled.model, {"table": _gp_table(), "Dmat": shuffled})
    np.testing.assert_array_equal(bound.stan_data["Dmat"], d.to_numpy())


def test_cli_data_matrix(tmp_path, capsys) -> None:
    model = tmp_path / "gp.mlm"
    model.write_text(GP)
    table = tmp_path / "t.csv"
    _gp_table().to_csv(table, index=False)
    good, bad = tmp_path / "d.csv", tmp_path / "bad.csv"
    _dist().to_csv(good)
    _dist(("A", "B", "X")).to_csv(bad)
    assert main(["check", str(model), "--data", str(table), "--data-matrix", f"Dmat={good}"]) == 0
    assert main(["check", str(model), "--data", str(table), "--data-matrix", f"Dmat={bad}"]) == 1
    err = capsys.readouterr().err
    assert "gp.mlm:4:14: error:" in err and 'level "C"' in err
    with pytest.raises(SystemExit) as info:
        main(["check", str(model), "--data", str(table), "--data-matrix", "Dmat"])
    assert info.value.code == 2
    assert "--data-matrix" in capsys.readouterr().err
