"""Issue 14, modelled columns at group level: `x[j] ~ Normal(nu, tau)` on a column of the data.

Compiled against the table's columns (Model.fit/bind/check, `mlm check --data`, `mlm transpile`
with the table, the editor's `# data:`), a group-level line on a column's name models the column:
one value per level, observed levels as data, levels without a value imputed and labelled by the
level (`x[id 4]`). Without the columns the line is a group effect, as before. Recovery intervals
are family-wise, as in test_coverage_structures; misuse is in tables.
"""
# ruff: noqa: E501

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlmdsl
from mlmdsl.cli import main
from mlmdsl.compiler import compile_source
from mlmdsl.compiler.diagnostics import CompileError
from mlmdsl.data import bind
from mlmdsl.data.modelled import for_columns
from mlmdsl.posterior.predict import PredictionError
from mlmdsl.posterior.report import format_report
from tests.test_coverage_structures import assert_recovers, fit_model, labels_of

GROUP = """\
y[i] ~ Normal(mu[i], sigma)
mu[i] = a + b * x[id[i]]
x[j] ~ Normal(nu, tau)
nu ~ Normal(0, 1)
tau ~ Exponential(1)
a ~ Normal(0, 1)
b ~ Normal(0, 1)
sigma ~ Exponential(1)
"""

POISSON_X = GROUP.replace("x[j] ~ Normal(nu, tau)", "x[j] ~ Poisson(lam)").replace("nu ~ Normal(0, 1)", "lam ~ Exponential(1)")


def edit(base: str, old: str, new: str) -> str:
    assert old in base, old
    return base.replace(old, new)


def _groups(seed: int, k: int = 30, per: int = 5, missing: tuple[int, ...] = (3, 7, 12, 20)):
    """Rows of k groups; x constant within a group, blank in every row of the `missing` groups
    (0-based) and in a few rows of the others (which keep their value from their other rows)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.5, 1.0, k)
    ids = np.repeat(np.arange(1, k + 1), per)
    y = 0.2 + 0.9 * x[ids - 1] + rng.normal(0, 0.4, len(ids))
    shown = x[ids - 1].copy()
    shown[np.isin(ids - 1, missing)] = np.nan
    shown[np.flatnonzero(~np.isin(ids - 1, missing))[::7]] = np.nan  # blanks in observed groups
    return pd.DataFrame({"y": y, "id": ids, "x": shown}), x


# ---- recovery -------------------------------------------------------------------------------


def test_group_level_imputation_recovers_the_missing_levels_and_the_column() -> None:
    missing = (3, 7, 12, 20)
    df, x = _groups(seed=41, missing=missing)
    fit = fit_model(GROUP, df)
    # Labelled by the grouping's own labels, in level order; ArviZ coords the same.
    assert labels_of(fit, "x") == [f"x[id {m + 1}]" for m in missing]
    assert list(fit.idata.posterior["x"].coords["x_missing"].values) == [f"id {m + 1}" for m in missing]
    assert_recovers(fit, {"nu": 0.5, "tau": 1.0, "a": 0.2, "b": 0.9, "sigma": 0.4, "x": x[list(missing)]})
    # The imputed values are learned from y, not just drawn from x's own prior (tau = 1).
    assert (fit.summary().loc[labels_of(fit, "x"), "Est.Error"] < 0.5).all()
    assert f"{len(missing)} missing cells of x imputed (x[id 4]," in format_report(fit)
    # LOO and replicated outcomes are about y, per row.
    assert fit.idata.log_likelihood["y"].shape[-1] == len(df)
    assert fit.idata.posterior_predictive["y"].shape[-1] == len(df)
    # Predictions on the fitted rows read x per level: a blank row in an observed group takes its
    # group's value, rows of an imputed group the imputed draws (so they are wider).
    pred = fit.predict()
    assert np.isfinite(pred["Estimate"]).all()
    imputed_rows = np.isin(df["id"].to_numpy() - 1, missing)
    err = pred["Est.Error"].to_numpy()
    assert err[imputed_rows].mean() > 2 * err[~imputed_rows].mean()
    new = pd.DataFrame({"y": [0.0, 0.0], "id": [4, 99], "x": [np.nan, np.nan]})
    with pytest.raises(PredictionError, match="id 99"):
        fit.predict(new)
    assert np.isfinite(fit.predict(new.iloc[:1])["Estimate"]).all()  # level 4 was imputed


# ---- compiling against the columns ----------------------------------------------------------


def test_without_the_columns_the_line_is_a_group_effect() -> None:
    bare = compile_source(GROUP)
    assert bare.model is not None and bare.model.param("x") is not None and not bare.model.modelled
    assert "z_x" in (bare.stan_code or "")
    with_columns = for_columns(bare, ["y", "id", "x"])
    assert with_columns.model is not None and with_columns.model.param("x") is None
    code = with_columns.stan_code or ""
    for line in ("vector[N_id] x_data;", "array[N_x_missing] int<lower=1, upper=N_id> x_missing_levels;",
                 "vector[N_x_missing] x_impute;", "x[x_missing_levels] = x_impute;", "x ~ normal(nu, tau);",
                 "a + b * x[id]"):
        assert line in code, line
    assert "z_x" not in code
    assert for_columns(bare, ["y", "id"]) is bare  # nothing named like a group-level line
    assert for_columns(with_columns, ["x", "y", "id", "other"]) is with_columns  # already compiled so


BIND_ROWS = [
    # (description, x column, missing levels, x per level, labels)
    ("blank rows of a level take its value", [1.0, np.nan, np.nan, np.nan, 2.0, 2.0], [2], [1.0, 0.0, 2.0], ["id 5"]),
    ("every level observed", [1.0, 1.0, 3.0, 3.0, 2.0, 2.0], [], [1.0, 3.0, 2.0], []),
    ("a column of blanks: every level imputed", [np.nan] * 6, [1, 2, 3], [0.0, 0.0, 0.0], ["id 3", "id 5", "id 9"]),
]


@pytest.mark.parametrize(("what", "x", "levels", "values", "labels"), BIND_ROWS, ids=[r[0] for r in BIND_ROWS])
def test_binding_per_level(what: str, x: list[float], levels: list[int], values: list[float], labels: list[str]) -> None:
    df = pd.DataFrame({"y": np.arange(6.0), "id": [3, 3, 5, 5, 9, 9], "x": x})
    bound = mlmdsl.Model.from_string(GROUP).bind(df)
    np.testing.assert_array_equal(bound.stan_data["x_missing_levels"], levels)
    assert bound.stan_data["N_x_missing"] == len(levels)
    np.testing.assert_array_equal(bound.stan_data["x_data"], values)
    assert bound.labels["x_missing"] == labels


def test_text_levels_label_the_imputed_cells() -> None:
    df = pd.DataFrame({"y": np.arange(4.0), "id": ["b", "b", "a", "a"], "x": [np.nan, np.nan, 0.5, 0.5]})
    assert mlmdsl.Model.from_string(GROUP).bind(df).labels["x_missing"] == ["id b"]


def test_discrete_group_column_is_data() -> None:
    df = pd.DataFrame({"y": np.arange(4.0), "id": [1, 1, 2, 2], "x": [3, 3, 5, np.nan]})
    with pytest.raises(CompileError, match="E208"):
        mlmdsl.Model.from_string(POISSON_X)  # without the table: a discrete prior
    compiled = for_columns(compile_source(POISSON_X), df.columns)
    assert compiled.ok, compiled.diagnostics
    assert "array[N_id] int<lower=0> x;" in (compiled.stan_code or "") and "x ~ poisson(lam);" in (compiled.stan_code or "")
    assert compiled.model is not None
    np.testing.assert_array_equal(bind(compiled.model, df).stan_data["x"], [3, 5])


def test_cli_check_and_transpile_read_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "m.mlm"
    model.write_text(GROUP)
    df, _ = _groups(seed=2, k=6, missing=(1,))
    table = tmp_path / "t.csv"
    df.to_csv(table, index=False)
    assert main(["transpile", str(model)]) == 0
    assert "z_x" in capsys.readouterr().out  # no table: a group effect
    assert main(["transpile", str(model), "--data", str(table)]) == 0
    assert "x_impute" in capsys.readouterr().out
    model.write_text(f"# data: {table.name}\n" + GROUP)  # the `# data:` line, relative to the model
    assert main(["transpile", str(model)]) == 0
    assert "x_impute" in capsys.readouterr().out
    assert main(["check", str(model)]) == 0
    capsys.readouterr()
    df.loc[df["id"] == 3, "x"] = [1.0, 2.0, 1.0, 1.0, 1.0]
    df.to_csv(table, index=False)
    assert main(["check", str(model)]) == 1
    err = capsys.readouterr().err
    assert "m.mlm:4:1: error:" in err and "id 3 has x = 1" in err and "[E403]" in err


# ---- misuse ---------------------------------------------------------------------------------

MODEL_ERRORS = [
    # (description, .mlm text, columns, code, line, column)
    ("used per row: its letter is not a grouping", edit(GROUP, "x[id[i]]", "x[i]"), ["x"], "E316", 2, 17),
    ("used by two groupings", edit(GROUP, "b * x[id[i]]", "b * x[id[i]] + x[g[i]]"), ["x"], "E313", 2, 28),
    ("a discrete prior without the table", POISSON_X, [], "E208", 3, 8),
]


@pytest.mark.parametrize(("what", "text", "columns", "code", "line", "col"), MODEL_ERRORS, ids=[r[0] for r in MODEL_ERRORS])
def test_model_error(what: str, text: str, columns: list[str], code: str, line: int, col: int) -> None:
    compiled = compile_source(text, "m.mlm", columns=columns)
    got = [(d.code, d.span.line, d.span.column) for d in compiled.diagnostics if d.is_error]
    assert (code, line, col) in got, f"{what}: {got}"
    assert not compiled.ok


def _table(x: list[float], ids: list[int] | None = None) -> pd.DataFrame:
    ids = ids or [1, 1, 2, 2, 3, 3]
    return pd.DataFrame({"y": np.arange(float(len(ids))), "id": ids, "x": x})


DATA_ERRORS = [
    # (description, model, table, code, words the message must contain)
    ("varies within a level", GROUP, _table([1.0, 1.0, 2.0, 2.5, 3.0, 3.0]), "E403",
     ["`x` is modelled with one value per level of `id`", "id 2 has x = 2 (row 3) and x = 2.5 (row 4)", "x[i] ~"]),
    ("varies within a level around blanks", GROUP, _table([1.0, np.nan, 2.0, np.nan, 3.0, 4.0]), "E403", ["id 3", "row 5", "row 6"]),
    ("discrete, with a level without a value", POISSON_X, _table([1, 1, np.nan, np.nan, 2, 2]), "E401",
     ["no value for 1 level of `id` (2)", "marginalis", "Poisson"]),
    ("discrete, not whole numbers", POISSON_X, _table([1.5, 1.5, 2, 2, 2, 2]), "E405", ["x"]),
    ("outside its support", edit(GROUP, "x[j] ~ Normal(nu, tau)", "x[j] ~ Exponential(tau)"), _table([-1.0, -1.0, np.nan, np.nan, 2, 2]), "E402", ["x"]),
]


@pytest.mark.parametrize(("what", "text", "table", "code", "words"), DATA_ERRORS, ids=[r[0] for r in DATA_ERRORS])
def test_data_error(what: str, text: str, table: pd.DataFrame, code: str, words: list[str]) -> None:
    compiled = for_columns(compile_source(text, "m.mlm"), table.columns)
    assert compiled.ok, compiled.diagnostics
    found = [d for d in mlmdsl.Model(compiled).check(table) if d.code == code]
    assert found, what
    text_of = " ".join(f"{d.message} {d.hint or ''}" for d in found)
    for w in words:
        assert w in text_of, f"{what}: {w!r} not in {text_of!r}"
    assert all((d.span.line, d.span.column) == (3, 1) for d in found), f"{what}: not at the modelled line"


def test_prior_predictive_draws_missing_levels_and_keeps_observed_ones() -> None:
    # nu ~ N(0, 1), tau ~ Exp(1): an imputed level's x has mean 0 and variance 1 + E[tau^2] = 3.
    # y = a + b x + sigma e: var 1 + 0 + 2 = 3 in a level observed at x = 0, 1 + 3 + 2 = 6 in an
    # imputed one; both use the same draws, so only reading the observed value tells them apart.
    df = pd.DataFrame({"y": [0.0] * 4, "id": [1, 1, 2, 2], "x": [0.0, 0.0, np.nan, np.nan]})
    pp = mlmdsl.Model.from_string(GROUP).prior_predictive(df, draws=40000, seed=5)
    x = pp.draws("x")
    assert x.shape == (40000, 1)
    assert abs(x.mean()) < 0.05 and abs(x.var() - 3) < 0.25
    y = pp.draws("y")
    assert abs(y[:, 0].var() - 3) < 0.25 and abs(y[:, 2].var() - 6) < 0.5
    assert pp.outcomes == ("y",)


def test_editor_checks_the_named_table(tmp_path: Path) -> None:
    from mlmdsl.editor.analysis import analyze, forget_data

    table = tmp_path / "t.csv"
    _table([1.0, 1.0, 2.0, 2.5, 3.0, 3.0]).to_csv(table, index=False)
    text = f"# data: {table.name}\n" + GROUP
    path = tmp_path / "m.mlm"
    path.write_text(text)
    forget_data()
    found = [d for d in analyze(text, str(path)).diagnostics if d.code == "E403"]
    assert found and (found[0].span.line, found[0].span.column) == (4, 1) and "id 2 has x = 2" in found[0].message
    _table([1.0, 1.0, np.nan, np.nan, 3.0, 3.0]).to_csv(table, index=False)
    forget_data()
    result = analyze(text, str(path))
    assert not [d for d in result.diagnostics if d.is_error]
    assert result.compiled.model is not None and result.compiled.model.modelled_named("x") is not None


def test_prior_predictive_of_a_row_level_modelled_column() -> None:
    # The row-level form too (it raised a KeyError before): B's missing cells are drawn from
    # Normal(nu, sigma_B), nu ~ N(0, 1), sigma_B ~ Exp(1): mean 0, variance 3.
    text = "K[i] ~ Normal(mu[i], sigma)\nmu[i] = a + bB * B[i]\nB[i] ~ Normal(nu, sigma_B)\na ~ Normal(0, 1)\nbB ~ Normal(0, 1)\nnu ~ Normal(0, 1)\nsigma_B ~ Exponential(1)\nsigma ~ Exponential(1)\n"
    df = pd.DataFrame({"K": [0.0] * 3, "B": [0.5, np.nan, np.nan]})
    pp = mlmdsl.Model.from_string(text).prior_predictive(df, draws=40000, seed=6)
    b = pp.draws("B")
    assert b.shape == (40000, 2) and abs(b.mean()) < 0.05 and abs(b.var() - 3) < 0.25
    assert pp.outcomes == ("K",)
