"""Issue 4: the data binder's side of the new structures. Ordered outcomes are checked to be
categories 1..K (or a pandas Categorical) and K is passed as `K_<outcome>`; correlated effects
and cutpoints get labelled dims; group-level columns and nested groupings are checked per group.
"""

from __future__ import annotations

import pandas as pd
import pytest

import mlmdsl
from mlmdsl.compiler.diagnostics import CompileError

ORDINAL = """\
r[i] ~ OrderedLogistic(phi[i], cutpoints)
phi[i] = b * x[i]
cutpoints ~ Normal(0, 1.5)
b ~ Normal(0, 1)
"""

SLOPES = """\
y[i] ~ Normal(mu[i], sigma)
mu[i] = a[g[i]] + b[g[i]] * x[i]
[a, b][j] ~ MVNormal([abar, bbar], Rho, tau)
abar ~ Normal(0, 1)
bbar ~ Normal(0, 1)
tau ~ Exponential(1)
Rho ~ LKJcorr(2)
sigma ~ Exponential(1)
"""

NESTED = """\
y[i] ~ Normal(mu[i], sigma)
mu[i] = a_class[class[i]]
a_class[j] ~ Normal(a_school[school[j]] + b * size[j], sigma_c)
a_school[k] ~ Normal(0, 1)
b ~ Normal(0, 1)
sigma_c ~ Exponential(1)
sigma ~ Exponential(1)
"""


def _errors(text: str, df: pd.DataFrame) -> list:
    with pytest.raises(CompileError) as info:
        mlmdsl.Model.from_string(text, "m.mlm").bind(df)
    return [d for d in info.value.diagnostics if d.is_error]


def test_ordinal_outcome_names_its_number_of_categories() -> None:
    model = mlmdsl.Model.from_string(ORDINAL)
    bound = model.bind(pd.DataFrame({"r": [1, 3, 2, 3], "x": [0.0, 1.0, 0.5, 2.0]}))
    assert bound.stan_data["K_r"] == 3 and "K" not in bound.stan_data
    assert bound.labels["r_cutpoint"] == ["1|2", "2|3"]
    assert "int<lower=2> K_r;" in model.stan_code()
    assert "array[N] int<lower=1, upper=K_r> r;" in model.stan_code()
    assert "ordered[K_r - 1] cutpoints;" in model.stan_code()


ORDINAL_ERRORS = [
    ("categories from 0", [0, 1, 2], "E402", "categories start at 1"),
    ("not whole numbers", [1, 2.5, 3], "E405", "non-integer"),
    ("one category", [1, 1, 1], "E402", "a single category"),
    ("text without an order", ["low", "high", "mid"], "E404", "text has no order"),
]


@pytest.mark.parametrize("desc,values,code,words", ORDINAL_ERRORS, ids=[e[0] for e in ORDINAL_ERRORS])
def test_ordinal_outcome_errors(desc: str, values: list, code: str, words: str) -> None:
    (err,) = _errors(ORDINAL, pd.DataFrame({"r": values, "x": [0.0, 1.0, 2.0]}))
    assert err.code == code
    assert words in err.message + (err.hint or ""), err
    assert (err.span.line, err.span.column) == (1, 1)


def test_correlated_effects_label_their_dims() -> None:
    model = mlmdsl.Model.from_string(SLOPES)
    bound = model.bind(pd.DataFrame({"y": [1.0, 2.0, 3.0], "x": [0.0, 1.0, 2.0], "g": ["u", "v", "u"]}))
    assert bound.labels["g_effect"] == ["a", "b"]
    assert bound.labels["g"] == ["u", "v"]
    schema = model.schema_for(bound)
    dims = {v.name: v.dims for v in schema.variables}
    assert dims["Rho"] == ("g_effect", "g_effect") and dims["tau"] == ("g_effect",)
    assert dims["a"] == ("g",) and dims["b"] == ("g",)
    roles = {v.name: (v.role, v.grouping) for v in schema.variables}
    assert roles["Rho"] == ("correlation", "g") and roles["tau"] == ("hyper", "g")


def _schools() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "class": ["A1", "A1", "A2", "B1", "B1", "B2"],
            "school": ["A", "A", "A", "B", "B", "B"],
            "size": [20, 20, 25, 30, 30, 22],
        }
    )


def test_nested_groupings_bind() -> None:
    bound = mlmdsl.Model.from_string(NESTED).bind(_schools())
    assert bound.stan_data["school_by_class"].tolist() == [1, 1, 2, 2]
    assert bound.stan_data["size_by_class"].tolist() == [20, 25, 30, 22]


def test_a_class_in_two_schools() -> None:
    df = _schools()
    df.loc[5, ["class", "size"]] = ["A2", 25]  # A2 (size 25) now also in school B
    (err,) = _errors(NESTED, df)
    assert err.code == "E407" and "each `class` must sit inside one `school`" in err.hint


def test_a_group_level_predictor_varying_within_its_group() -> None:
    df = _schools()
    df.loc[1, "size"] = 21
    (err,) = _errors(NESTED, df)
    assert err.code == "E403" and "`size` must be constant within each level of `class`" in err.message


def _stand_in(path) -> str | None:
    """The simulated data an example names in its header (`stand-in: data/x.csv` or
    `Data: data/x.csv`)."""
    import re

    found = re.search(r"(?:stand-in|Data): (data/[\w.]+\.csv)", path.read_text(encoding="utf-8"))
    return found.group(1) if found else None


def test_every_new_example_binds_its_simulated_data() -> None:
    from tests.conftest import EXAMPLES

    named = [(p, _stand_in(p)) for p in sorted(EXAMPLES.glob("*.mlm"))]
    checked = [p.stem for p, data in named if data is not None]
    assert {"sleep_slopes", "trolley", "nested_schools", "irt", "sdt", "kline_gampois"} <= set(checked)
    for path, data in named:
        if data is not None:
            mlmdsl.Model.from_file(path).bind(EXAMPLES / data)  # raises CompileError on a mismatch
