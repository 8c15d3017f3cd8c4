"""The data binder and the expression evaluator: data in, Stan data or a diagnostic out."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlmdsl.compiler import ast
from mlmdsl.compiler.check import check
from mlmdsl.compiler.diagnostics import Diagnostic
from mlmdsl.compiler.evaluate import EvalError, evaluate
from mlmdsl.compiler.families import FUNCTIONS
from mlmdsl.compiler.ir import CheckedModel
from mlmdsl.compiler.parse import parse
from mlmdsl.data import DROPPED_ROWS, BoundData, DataError, bind, read_table
from tests.conftest import EXAMPLES, shared_file

# ---- models ------------------------------------------------------------------------------

POOLING = (EXAMPLES / "partial_pooling.mlm").read_text(encoding="utf-8")
CHIMPS = (EXAMPLES / "chimpanzees.mlm").read_text(encoding="utf-8")

NESTED = """\
y[i] ~ Normal(mu[i], sigma)
mu[i] = a[class[i]]
a[j] ~ Normal(b[school[j]] + c * z[j], sigma_a)
b[k] ~ Normal(0, 1)
c ~ Normal(0, 1)
sigma ~ Exponential(1)
sigma_a ~ Exponential(1)
"""

BINOMIAL = """\
surv[i] ~ Binomial(density[i], p[i])
logit(p[i]) = a[tank[i]]
a[j] ~ Normal(0, 1.5)
"""

ORDINAL = """\
response[i] ~ OrderedLogistic(phi[i], cutpoints)
phi[i] = bA * action[i] + a[id[i]]
cutpoints ~ Normal(0, 1.5)
bA ~ Normal(0, 0.5)
a[j] ~ Normal(0, sigma_a)
sigma_a ~ Exponential(1)
"""


def _regression(family: str, scale: bool = False) -> str:
    """y[i] ~ family(...) with a log- or logit-link mean and one predictor x."""
    mean = {"Poisson": "log", "Bernoulli": "logit", "Beta": "logit", "Gamma": "log"}.get(family)
    if family == "Beta":
        return "y[i] ~ Beta(p[i] * 10, (1 - p[i]) * 10)\nlogit(p[i]) = a + b * x[i]\n" + _AB
    if family == "Gamma":
        return "y[i] ~ Gamma(2, r[i])\nlog(r[i]) = a + b * x[i]\n" + _AB
    if mean is None:
        return (
            f"y[i] ~ {family}(mu[i], sigma)\nmu[i] = a + b * x[i]\nsigma ~ Exponential(1)\n" + _AB
        )
    return f"y[i] ~ {family}(m[i])\n{mean}(m[i]) = a + b * x[i]\n" + _AB


_AB = "a ~ Normal(0, 1)\nb ~ Normal(0, 1)\n"


def _model(source: str) -> CheckedModel:
    program, diags = parse(source, "model.mlm")
    assert program is not None, diags
    model, diags = check(program)
    assert model is not None, [d for d in diags if d.is_error]
    return model


def _bind(source: str, data: pd.DataFrame | str | Path, **kw: bool) -> BoundData:
    return bind(_model(source), data, **kw)


def _errors(source: str, data: pd.DataFrame | str | Path, **kw: bool) -> list[Diagnostic]:
    with pytest.raises(DataError) as caught:
        _bind(source, data, **kw)
    return [d for d in caught.value.diagnostics if d.is_error]


def _text(d: Diagnostic) -> str:
    return d.message + (f" (hint: {d.hint})" if d.hint else "")


def _chimps(**columns: list) -> pd.DataFrame:
    base = {
        "actor": [1, 1, 2, 2],
        "block": [1, 2, 1, 2],
        "prosoc_left": [0, 1, 0, 1],
        "condition": [0, 0, 1, 1],
        "pulled_left": [0, 1, 1, 0],
    }
    base.update(columns)
    return pd.DataFrame({k: v for k, v in base.items() if v is not None})


def _pooling(**columns: list) -> pd.DataFrame:
    base = {"id": [6, 6, 29, 29], "con": [0.1, 0.2, 0.3, 0.4]}
    base.update(columns)
    return pd.DataFrame({k: v for k, v in base.items() if v is not None})


def _xy(y: list, x: list | None = None) -> pd.DataFrame:
    return pd.DataFrame({"y": y, "x": x if x is not None else [0.0] * len(y)})


def _classes(classes: list, schools: list, z: list) -> pd.DataFrame:
    return pd.DataFrame({"y": [1.0] * len(classes), "class": classes, "school": schools, "z": z})


# ---- every data error, one row each ------------------------------------------------------

ERRORS = [
    # (description, model, data, code, substring of message or hint)
    (
        "misspelled column",
        POOLING,
        _pooling(con=None, conn=[1, 2, 3, 4]),
        "E400",
        "did you mean `conn`?",
    ),
    (
        "column of a derived index",
        CHIMPS,
        _chimps(condition=None, conditon=[0, 0, 1, 1]),
        "E400",
        "`condition` is not in the data (needed to compute `treatment`)",
    ),
    (
        "no close match lists columns",
        POOLING,
        _pooling(id=None, grp=[1, 1, 2, 2]),
        "E400",
        "columns are: con, grp",
    ),
    (
        "NaN in a predictor",
        POOLING,
        _pooling(con=[0.1, np.nan, 0.3, np.nan]),
        "E401",
        "2 missing values (rows 2, 4)",
    ),
    (
        "None in a label column",
        POOLING,
        _pooling(id=["a", None, "b", "b"]),
        "E401",
        "drop_missing=True",
    ),
    (
        "blank text counts as missing",
        POOLING,
        _pooling(id=["a", " ", "b", "b"]),
        "E401",
        "`id` has 1 missing value (row 2)",
    ),
    (
        "labels mix numbers and text",
        POOLING,
        _pooling(id=[6, "x", 29, 29]),
        "E404",
        'numbers such as 6 (row 1), text such as "x" (row 2)',
    ),
    (
        "text predictor",
        _regression("Normal"),
        _xy([1.0, 2.0], ["low", "high"]),
        "E404",
        'row 1 holds "low"',
    ),
    ("text outcome", _regression("Bernoulli"), _xy(["yes", "no"]), "E404", "`y` must hold numbers"),
    (
        "Bernoulli on fractions",
        _regression("Bernoulli"),
        _xy([0, 0.5, 0.25]),
        "E405",
        "non-integer values (rows 2, 3; e.g. 0.5) but Bernoulli needs 0/1",
    ),
    (
        "Bernoulli on 1/2 coding",
        _regression("Bernoulli"),
        _xy([1, 2, 2]),
        "E402",
        "the value 2 (rows 2, 3)",
    ),
    (
        "Poisson on negative counts",
        _regression("Poisson"),
        _xy([3, -1]),
        "E402",
        "Poisson needs counts",
    ),
    ("Poisson on fractions", _regression("Poisson"), _xy([3, 1.5]), "E405", "row 2"),
    ("Normal on infinity", _regression("Normal"), _xy([1.0, np.inf]), "E402", "finite numbers"),
    ("Gamma on zero", _regression("Gamma"), _xy([1.0, 0.0]), "E402", "values above 0"),
    (
        "Beta on a boundary",
        _regression("Beta"),
        _xy([0.5, 1.0]),
        "E402",
        "strictly between 0 and 1",
    ),
    (
        "ordinal coded from 0",
        ORDINAL,
        pd.DataFrame({"response": [0, 1, 2], "action": [0, 1, 0], "id": [1, 1, 2]}),
        "E402",
        "add 1",
    ),
    (
        "Binomial above its trials",
        BINOMIAL,
        pd.DataFrame({"surv": [3, 12], "density": [10, 10], "tank": [1, 2]}),
        "E402",
        "exceeds the number of trials `density[i]` in row 2 (12 > 10)",
    ),
    (
        "fractional trials",
        BINOMIAL,
        pd.DataFrame({"surv": [3, 1], "density": [10, 2.5], "tank": [1, 2]}),
        "E405",
        "used as the number of trials",
    ),
    (
        "negative trials",
        BINOMIAL,
        pd.DataFrame({"surv": [3, 0], "density": [10, -2], "tank": [1, 2]}),
        "E402",
        "`density` has the value -2 (row 2)",
    ),
    (
        "group-level predictor varies within a group",
        NESTED,
        _classes(classes=[10, 10, 20], schools=["A", "A", "B"], z=[0.5, 0.6, 1.0]),
        "E403",
        "class 10 has z = 0.5 (row 1) and z = 0.6 (row 2)",
    ),
    (
        "group not nested in its parent",
        NESTED,
        _classes(classes=[10, 20, 20], schools=["A", "A", "B"], z=[0.5, 1.0, 1.0]),
        "E407",
        'class 20 has school = "A" (row 2) and school = "B" (row 3)',
    ),
    (
        "derived index not whole",
        CHIMPS,
        _chimps(prosoc_left=[0, 0.5, 0, 1]),
        "E405",
        "`treatment` = 1 + prosoc_left[i] + 2 * condition[i] has non-integer values (row 2",
    ),
]


@pytest.mark.parametrize(
    ("description", "source", "data", "code", "text"), ERRORS, ids=[e[0] for e in ERRORS]
)
def test_data_error(
    description: str, source: str, data: pd.DataFrame, code: str, text: str
) -> None:
    found = [d for d in _errors(source, data) if d.code == code]
    assert found, f"{description}: no {code} in {_errors(source, data)}"
    assert any(text in _text(d) for d in found), [_text(d) for d in found]
    assert all(d.span.line > 0 for d in found), "every data diagnostic points at the model"


def test_all_problems_reported_in_one_run() -> None:
    data = _chimps(
        actor=[1, 1, "x", 2], block=[1, None, 1, 2], pulled_left=[0, 1, 1, 2], condition=None
    )
    codes = sorted(d.code for d in _errors(CHIMPS, data))
    assert codes == ["E400", "E401", "E402", "E404"]


def test_diagnostic_points_at_first_use_of_the_column() -> None:
    model = _model(POOLING)
    with pytest.raises(DataError) as caught:
        bind(model, _pooling(id=None, ID=[1, 1, 2, 2]))
    (d,) = caught.value.diagnostics
    assert d.span == model.data_var("id").span  # type: ignore[union-attr]
    assert (d.span.line, d.span.column) == (4, 15)
    assert "model.mlm:4:15: error: column `id` is not in the data [E400]" in str(caught.value)


def test_duplicate_column_is_an_error() -> None:
    data = pd.DataFrame([[1, 0.1, 0.2]], columns=["id", "con", "con"])
    assert [d.code for d in _errors(POOLING, data)] == ["E406"]


# ---- happy paths on the shared data sets -------------------------------------------------


def test_partial_pooling_on_mlm_csv() -> None:
    bound = _bind(POOLING, shared_file("mlm.csv"))
    raw = pd.read_csv(shared_file("mlm.csv"))
    ids = sorted(raw["id"].unique().tolist())
    assert bound.stan_data["N"] == len(raw) == 225
    assert bound.stan_data["N_id"] == len(ids) == 91
    assert bound.labels["id"] == ids and bound.labels["id"][:3] == [6, 29, 34]
    assert all(type(label) is int for label in bound.labels["id"])
    codes = bound.stan_data["id"]
    assert isinstance(codes, np.ndarray) and codes.dtype.kind == "i"
    assert [bound.labels["id"][c - 1] for c in codes] == raw["id"].tolist()
    assert np.allclose(bound.stan_data["con"], raw["con"]) and bound.stan_data["con"].dtype == float
    assert np.allclose(bound.observed["con"], raw["con"])
    assert len(bound.obs_labels) == 225
    assert bound.info == {**bound.info, "N": 225, "source": "mlm.csv", "dropped": 0}
    assert bound.diagnostics == []


def test_chimpanzees_with_a_derived_index() -> None:
    bound = _bind(CHIMPS, shared_file("chimpanzees.csv"))
    raw = read_table(shared_file("chimpanzees.csv"))
    data = bound.stan_data
    assert data["N"] == 504
    assert (data["N_treatment"], data["N_actor"], data["N_block"]) == (4, 7, 6)
    assert bound.labels == {
        "treatment": [1, 2, 3, 4],
        "actor": list(range(1, 8)),
        "block": list(range(1, 7)),
    }
    expected = 1 + raw["prosoc_left"] + 2 * raw["condition"]
    assert np.array_equal(data["treatment"], expected.to_numpy())
    assert data["pulled_left"].dtype.kind == "i" and set(data["pulled_left"].tolist()) == {0, 1}
    # Read only to compute treatment: the Stan program never declares them.
    assert "prosoc_left" not in data and "condition" not in data


def test_trolley_ordinal_with_text_labels() -> None:
    bound = _bind(ORDINAL, shared_file("Trolley.csv"))
    assert bound.stan_data["N"] == 9930 and bound.stan_data["N_id"] == 331
    assert bound.stan_data["K_response"] == 7  # named by the outcome (issue 4)
    assert bound.labels["response_cutpoint"] == ["1|2", "2|3", "3|4", "4|5", "5|6", "6|7"]
    assert bound.labels["id"][:2] == ["96;434", "96;445"]  # quoted `;` inside a `;` file


def test_drop_missing_on_chimpanzees() -> None:
    source = "pulled_left[i] ~ Bernoulli(p[i])\nlogit(p[i]) = a[actor[i]] + b * recipient[i]\n"
    source += "a[j] ~ Normal(0, 1.5)\nb ~ Normal(0, 1)\n"
    path = shared_file("chimpanzees.csv")
    (err,) = _errors(source, path)
    assert (
        err.code == "E401" and "252 missing values (rows 1, 2, 3, 4, 5 and 247 more)" in err.message
    )
    bound = _bind(source, path, drop_missing=True)
    assert bound.stan_data["N"] == 252 and bound.info["dropped"] == 252
    assert len(bound.obs_labels) == 252 and 1 not in bound.obs_labels
    (warn,) = bound.diagnostics
    assert warn.severity == "warning" and warn.code == DROPPED_ROWS
    assert "dropped 252 rows with missing values in `recipient`" in warn.message


# ---- happy paths on small tables ---------------------------------------------------------


def test_drop_missing_drops_rows_before_coding_levels() -> None:
    data = pd.DataFrame(
        {"id": [6, None, 29, 40], "con": [0.1, 0.2, 0.3, np.nan]}, index=list("abcd")
    )
    bound = _bind(POOLING, data, drop_missing=True)
    assert bound.labels["id"] == [6, 29] and all(type(v) is int for v in bound.labels["id"])
    assert bound.obs_labels == ["a", "c"]
    assert bound.info["dropped"] == 2 and bound.info["source"] == "DataFrame"
    assert "rows 2, 4" in bound.diagnostics[0].message


@pytest.mark.parametrize(
    ("values", "levels"),
    [
        ([10, 9, 100, 9], [9, 10, 100]),  # numeric order, not text order
        (["b", "a", "B", "a"], ["B", "a", "b"]),
        ([2.5, 1.0, 2.5, 1.0], [1.0, 2.5]),
        ([True, False, True, True], [False, True]),
    ],
)
def test_levels_are_sorted_original_values(values: list, levels: list) -> None:
    bound = _bind(POOLING, _pooling(id=values))
    assert bound.labels["id"] == levels
    assert [type(v) for v in bound.labels["id"]] == [type(v) for v in levels]
    assert [levels[c - 1] for c in bound.stan_data["id"]] == values


def test_group_level_columns_one_value_per_level() -> None:
    data = pd.DataFrame(
        {
            "y": [1.0, 2, 3, 4],
            "class": [30, 10, 10, 20],
            "school": ["B", "A", "A", "B"],
            "z": [2.0, 0.5, 0.5, 1.0],
        }
    )
    bound = _bind(NESTED, data)
    assert bound.labels == {"class": [10, 20, 30], "school": ["A", "B"]}
    assert bound.stan_data["N_class"] == 3 and bound.stan_data["N_school"] == 2
    assert bound.stan_data["school_by_class"].tolist() == [1, 2, 2]
    assert bound.stan_data["z_by_class"].tolist() == [0.5, 1.0, 2.0]
    assert bound.stan_data["class"].tolist() == [3, 1, 1, 2]


def test_school_coded_alike_at_row_and_group_level() -> None:
    source = NESTED.replace("mu[i] = a[class[i]]", "mu[i] = a[class[i]] + b[school[i]]")
    data = pd.DataFrame(
        {"y": [1.0, 2, 3], "class": [1, 2, 3], "school": ["B", "A", "B"], "z": [0.0, 0, 0]}
    )
    bound = _bind(source, data)
    assert bound.stan_data["school"].tolist() == [2, 1, 2]
    assert bound.stan_data["school_by_class"].tolist() == [2, 1, 2]


def test_binomial_and_bool_outcomes() -> None:
    bound = _bind(
        BINOMIAL, pd.DataFrame({"surv": [3, 10], "density": [10, 10], "tank": ["t1", "t2"]})
    )
    assert bound.stan_data["density"].dtype.kind == "i" and bound.stan_data["surv"].tolist() == [
        3,
        10,
    ]
    bern = _bind(_regression("Bernoulli"), _xy([True, False, True]))
    assert bern.stan_data["y"].tolist() == [1, 0, 1] and bern.stan_data["y"].dtype.kind == "i"
    assert bern.stan_data["x"].dtype == float


# ---- reading files -----------------------------------------------------------------------

SEPARATED = [
    ("comma", "id,group,con\n6,PD,0.19\n29,HC,0.2\n"),
    ("semicolon, quoted", '"id";"group";"con"\n6;"P,D";0.19\n29;"HC";0.2\n'),
    ("tab", "id\tgroup\tcon\n6\tP;D\t0.19\n29\tHC\t0.2\n"),
]


@pytest.mark.parametrize(("description", "text"), SEPARATED, ids=[s[0] for s in SEPARATED])
def test_separator_detected(description: str, text: str, tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text(text, encoding="utf-8")
    df = read_table(path)
    assert list(df.columns) == ["id", "group", "con"]
    assert df["id"].tolist() == [6, 29] and df["con"].tolist() == [0.19, 0.2]
    assert df.index.tolist() == [1, 2]  # rows numbered as the messages count them
    bound = _bind(POOLING, str(path))
    assert bound.info["source"] == "data.csv" and bound.labels["id"] == [6, 29]


def test_dataframe_passes_through() -> None:
    df = _pooling()
    assert read_table(df) is df


def test_unreadable_file_suggests_a_near_name(tmp_path: Path) -> None:
    (tmp_path / "mlm.csv").write_text("id,con\n1,0.1\n", encoding="utf-8")
    errors = _errors(POOLING, tmp_path / "mlm.cvs")
    assert [d.code for d in errors] == ["E406"]
    assert "no such file" in errors[0].message and "mlm.csv" in (errors[0].hint or "")


def test_numbers_and_stray_text_in_a_file_are_mixed_types(tmp_path: Path) -> None:
    path = tmp_path / "typo.csv"
    path.write_text("id,con\n6,0.1\n29,0.2\n2x9,0.3\n", encoding="utf-8")
    (err,) = _errors(POOLING, path)
    assert err.code == "E404" and 'text such as "2x9" (row 3)' in err.message
    # The same values given as text in a DataFrame are taken as the text labels they are.
    bound = _bind(POOLING, pd.DataFrame({"id": ["6", "29", "2x9"], "con": [0.1, 0.2, 0.3]}))
    assert bound.labels["id"] == ["29", "2x9", "6"]


# ---- the evaluator -----------------------------------------------------------------------


def _expr(text: str) -> ast.Expr:
    program, diags = parse(f"q[i] = {text}\n", "expr.mlm")
    assert program is not None, diags
    stmt = program.statements[0]
    assert isinstance(stmt, ast.Assign)
    return stmt.rhs


X = np.array([-2.0, 0.0, 0.5, 3.0])
P = np.array([0.1, 0.5, 0.9, 0.99])

FUNCTION_CASES = {
    "exp": ("exp(x[i])", np.exp(X)),
    "log": ("log(p[i])", np.log(P)),
    "log1p": ("log1p(p[i])", np.log1p(P)),
    "expm1": ("expm1(x[i])", np.expm1(X)),
    "sqrt": ("sqrt(p[i])", np.sqrt(P)),
    "square": ("square(x[i])", X**2),
    "abs": ("abs(x[i])", np.abs(X)),
    "inv_logit": ("inv_logit(x[i])", 1 / (1 + np.exp(-X))),
    "logistic": ("logistic(x[i])", 1 / (1 + np.exp(-X))),
    "logit": ("logit(p[i])", np.log(P / (1 - P))),
    "Phi": ("Phi(x[i])", np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in X])),
    "Phi_approx": ("Phi_approx(x[i])", 1 / (1 + np.exp(-(0.07056 * X**3 + 1.5976 * X)))),
    "inv_cloglog": ("inv_cloglog(x[i])", 1 - np.exp(-np.exp(X))),
    "log_inv_logit": ("log_inv_logit(x[i])", np.log(1 / (1 + np.exp(-X)))),
    "tanh": ("tanh(x[i])", np.tanh(X)),
    "pow": ("pow(x[i], 2)", X**2),
    "fmin": ("fmin(x[i], 0)", np.minimum(X, 0)),
    "fmax": ("fmax(x[i], 0)", np.maximum(X, 0)),
    "min": ("min(x[i], p[i])", np.minimum(X, P)),
    "max": ("max(x[i], p[i])", np.maximum(X, P)),
}


def test_every_language_function_is_evaluated() -> None:
    assert set(FUNCTIONS) == set(FUNCTION_CASES)


@pytest.mark.parametrize("name", sorted(FUNCTION_CASES))
def test_function(name: str) -> None:
    text, expected = FUNCTION_CASES[name]
    assert np.allclose(evaluate(_expr(text), {"x": X, "p": P}), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + prosoc[i] + 2 * cond[i]", [1.0, 2.0, 3.0, 4.0]),
        ("-prosoc[i] / 2 + 2 ^ cond[i]", [1.0, 0.5, 2.0, 1.5]),
        ("(cond[i] - 1) ^ 2 * 3", [3.0, 3.0, 0.0, 0.0]),
    ],
)
def test_arithmetic_over_rows(text: str, expected: list[float]) -> None:
    env = {"prosoc": np.array([0.0, 1, 0, 1]), "cond": np.array([0.0, 0, 1, 1])}
    assert evaluate(_expr(text), env).tolist() == expected


def test_scalar_expression_stays_scalar() -> None:
    value = evaluate(_expr("exp(0) + 1 / 4"), {})
    assert isinstance(value, float) and value == 1.25


def test_predictions_broadcast_over_draws() -> None:
    draws, levels = 3, 2
    env = {
        "a": np.arange(draws * levels, dtype=float).reshape(draws, levels),
        "b": np.array([[1.0], [2.0], [3.0]]),  # a scalar parameter's draws, as a column
        "g": np.array([1, 2, 2, 1]),
        "x": np.array([0.0, 1.0, 2.0, 3.0]),
    }
    value = evaluate(_expr("a[g[i]] + b * x[i]"), env)
    assert value.shape == (draws, 4)
    assert value[1].tolist() == [2.0, 3.0 + 2.0, 3.0 + 4.0, 2.0 + 6.0]


def test_other_letter_is_elementwise_when_named() -> None:
    assert evaluate(_expr("z[j] * 2"), {"z": np.array([1.0, 2.0])}, row_letter="j").tolist() == [
        2.0,
        4.0,
    ]


@pytest.mark.parametrize("text", ["nope[i] + 1", "foo(x[i])", "[x[i], 1]"])
def test_evaluator_errors_name_the_problem(text: str) -> None:
    with pytest.raises(EvalError):
        evaluate(_expr(text), {"x": X})
