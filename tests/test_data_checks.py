"""Data in, message out, for the binder's newer checks (issue 9). Each row: (description,
model, data as a DataFrame or as CSV text, expected code, words the message must hold)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlmdsl.compiler import compile_source
from mlmdsl.data import DataError, bind

LINEAR = "y[i] ~ Normal(a + b * x[i], s)\na ~ Normal(0, 1)\nb ~ Normal(0, 1)\ns ~ Exponential(1)\n"
GROUPS = "y[i] ~ Normal(a[g[i]], s)\na[j] ~ Normal(m, t)\nm ~ Normal(0, 1)\nt ~ Exponential(1)\ns ~ Exponential(1)\n"
ORDINAL = "y[i] ~ OrderedLogistic(0, c)\nc ~ Normal(0, 1.5)\n"


def diagnostics(model: str, data: pd.DataFrame | str, tmp_path: Path) -> list:
    compiled = compile_source(model, "m.mlm")
    assert compiled.model is not None, compiled.diagnostics
    if isinstance(data, str):
        path = tmp_path / "d.csv"
        path.write_text(data)
        data = str(path)  # type: ignore[assignment]
    try:
        return bind(compiled.model, data).diagnostics
    except DataError as exc:
        return exc.diagnostics


TABLE = [
    (
        "inf in a predictor",
        LINEAR, pd.DataFrame({"y": [1.0, 2, 3, 4], "x": [0.5, np.inf, 1, -np.inf]}),
        "E408", ["`x`", "inf", "rows 2, 4"],
    ),
    (
        "inf read from a file",
        LINEAR, "y,x\n1,0.5\n2,inf\n3,1\n",
        "E408", ["`x`", "row 2"],
    ),
    ("a duplicated column in a file", LINEAR, "y,x,x\n1,0.5,9\n2,1,9\n3,2,9\n", "E406", ["`x`", "2 times"]),
    (
        "an empty ordered category",
        ORDINAL, pd.DataFrame({"y": [1, 2, 4, 1, 2, 4]}),
        "W506", ["`y`", "category 3", "1..4"],
    ),
    (
        "a grouping with one level",
        GROUPS, pd.DataFrame({"y": [1.0, 2, 3], "g": ["A"] * 3}),
        "W507", ["`g`", "single level"],
    ),
    ("a constant outcome", LINEAR, pd.DataFrame({"y": [2.0] * 4, "x": [1.0, 2, 3, 4]}), "W507", ["`y`", "every row"]),
    ("a single row", LINEAR, pd.DataFrame({"y": [2.0], "x": [1.0]}), "W507", ["single row"]),
    (
        "an all-missing outcome",
        LINEAR, pd.DataFrame({"y": [np.nan] * 3, "x": [1.0, 2, 3]}),
        "E401", ["`y`", "3 missing values"],
    ),
    (
        "a boolean outcome for Normal",
        LINEAR, pd.DataFrame({"y": [True, False, True], "x": [1.0, 2, 3]}),
        "E404", ["`y`", "true/false", "Normal"],
    ),
    (
        "a complex outcome for Normal",
        LINEAR, pd.DataFrame({"y": [1 + 1j, 2, 3], "x": [1.0, 2, 3]}),
        "E404", ["`y`", "complex"],
    ),
    (
        "a complex predictor",
        LINEAR, pd.DataFrame({"y": [1.0, 2, 3], "x": [1 + 1j, 2, 3]}),
        "E404", ["`x`", "complex"],
    ),
]


@pytest.mark.parametrize("what,model,data,code,words", TABLE, ids=[t[0] for t in TABLE])
def test_data_check(
    what: str, model: str, data: pd.DataFrame | str, code: str, words: list[str], tmp_path: Path
) -> None:
    found = [d for d in diagnostics(model, data, tmp_path) if d.code == code]
    assert found, diagnostics(model, data, tmp_path)
    text = found[0].message
    for w in words:
        assert w in text, text
    assert found[0].span.line > 0  # located at the column's use in the model


def test_all_missing_does_not_speak_of_dropping(tmp_path: Path) -> None:
    diags = diagnostics(LINEAR, pd.DataFrame({"y": [np.nan] * 3, "x": [1.0, 2, 3]}), tmp_path)
    assert not any("dropping" in d.message for d in diags), diags


def test_clean_data_has_no_warnings(tmp_path: Path) -> None:
    diags = diagnostics(GROUPS, pd.DataFrame({"y": [1.0, 2, 3, 4], "g": ["A", "B", "A", "B"]}), tmp_path)
    assert [d for d in diags if d.severity != "note"] == []
