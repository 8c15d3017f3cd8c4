"""Matrices supplied beside the table: the distances of a Gaussian process (compiler/gp.py).

`data={"table": df, "Dmat": matrix}`: the matrix is a DataFrame whose index and columns are
labelled by the grouping's levels (any order; levels the data does not use are dropped), or a
numpy array (or nested lists) already in the levels' order (sorted, as `levels.py` codes them).
It must be square, numeric, finite, non-negative and symmetric; each problem is a located error
at the kernel's line, naming the rows and columns at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlmdsl.compiler.diagnostics import Diagnostic, error
from mlmdsl.compiler.ir import CheckedModel, GaussianProcess
from mlmdsl.data.messages import show

# A supplied matrix that is missing, mislabelled or not a distance matrix.
E_MATRIX = "E420"
TABLE_KEY = "table"


def split_data(data: Any) -> tuple[Any, dict[str, Any]]:
    """The table and the matrices of `data` (a mapping with a "table" entry, or the table)."""
    if isinstance(data, Mapping) and TABLE_KEY in data:
        return data[TABLE_KEY], {str(k): v for k, v in data.items() if k != TABLE_KEY}
    return data, {}


def read_matrix(path: str | Path) -> pd.DataFrame:
    """A CSV with the levels in its first column and its header (`--data-matrix NAME=FILE`)."""
    df = pd.read_csv(path, index_col=0, sep=None, engine="python")
    df.index = df.index.map(_label)
    df.columns = [_label(c) for c in df.columns]
    return df


def _label(value: Any) -> Any:
    """CSV headers are text; a level written as a number there is matched as that number."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value.strip()
        return int(number) if number.is_integer() else number
    return value


def bind_matrices(
    model: CheckedModel, matrices: dict[str, Any], levels: Mapping[str, list]
) -> tuple[dict[str, np.ndarray], list[Diagnostic]]:
    """Stan data for every matrix a kernel names, and the errors found."""
    out: dict[str, np.ndarray] = {}
    diags: list[Diagnostic] = []
    wanted = {g.matrix: g for g in model.gps}
    for name in matrices:
        if name not in wanted:
            known = ", ".join(f"`{n}`" for n in wanted) or "none"
            diags.append(
                error(
                    E_MATRIX,
                    f"the data has a matrix `{name}` but the model uses no matrix of that name "
                    f"(matrices it uses: {known})",
                    hint="name it as the kernel does, e.g. `K = cov_GPL2(Dmat, etasq, rhosq, 0.01)`",
                )
            )
    for name, g in wanted.items():
        span = g.kernel_stmt.rhs.args[0].span  # type: ignore[union-attr]
        if name not in matrices:
            diags.append(
                error(
                    E_MATRIX,
                    f"the distance matrix `{name}` is not in the data",
                    span,
                    f'pass it beside the table: data={{"table": df, "{name}": matrix}} in Python, '
                    f"`--data-matrix {name}=FILE.csv` on the command line",
                )
            )
            continue
        got = _matrix(name, g, matrices[name], levels.get(g.grouping, []), span, diags)
        if got is not None:
            out[g.matrix_stan] = got
    return out, diags


def _matrix(
    name: str, g: GaussianProcess, value: Any, lv: list, span: Any, diags: list[Diagnostic]
) -> np.ndarray | None:
    def fail(message: str, hint: str | None = None) -> None:
        diags.append(error(E_MATRIX, message, span, hint))

    k = len(lv)
    if isinstance(value, pd.DataFrame):
        if value.shape[0] != value.shape[1]:
            fail(f"`{name}` must be square (one row and one column per level of `{g.grouping}`), but it is "
                 f"{value.shape[0]} x {value.shape[1]}")
            return None
        for axis, labels in (("row", value.index), ("column", value.columns)):
            dup = labels[labels.duplicated()].tolist()
            if dup:
                fail(f"`{name}` has the {axis} label {show(dup[0])} twice")
                return None
            missing = [lvl for lvl in lv if lvl not in set(labels)]
            if missing:
                listed = ", ".join(show(m) for m in missing[:5]) + (" ..." if len(missing) > 5 else "")
                fail(
                    f"`{name}` has no {axis} for level{'s' * (len(missing) > 1)} {listed} of `{g.grouping}`",
                    f"label its rows and columns by the levels of `{g.grouping}` as the table spells them",
                )
                return None
        frame = value.loc[lv, lv]
    else:
        try:
            array = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            fail(f"`{name}` must be a matrix of numbers")
            return None
        if array.ndim != 2 or array.shape[0] != array.shape[1]:
            fail(f"`{name}` must be a square matrix, but its shape is {' x '.join(map(str, array.shape))}")
            return None
        if array.shape[0] != k:
            fail(
                f"`{name}` is {array.shape[0]} x {array.shape[0]} but `{g.grouping}` has {k} levels in the data",
                "give one row and one column per level, in sorted order, or pass a DataFrame labelled by the levels",
            )
            return None
        frame = pd.DataFrame(array, index=lv, columns=lv)
    try:
        d = frame.to_numpy(dtype=float)
    except (TypeError, ValueError):
        fail(f"`{name}` must hold numbers")
        return None
    bad = ~np.isfinite(d)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        where = f"row {show(lv[r])}, column {show(lv[c])}"
        fail(f"`{name}` has {show(d[r, c])} at {where}: distances must be finite numbers")
        return None
    if (d < 0).any():
        r, c = np.argwhere(d < 0)[0]
        fail(f"`{name}` has the negative distance {show(d[r, c])} at row {show(lv[r])}, column {show(lv[c])}")
        return None
    asym = ~np.isclose(d, d.T, rtol=1e-8, atol=1e-12)
    if asym.any():
        r, c = np.argwhere(asym)[0]
        fail(
            f"`{name}` is not symmetric: row {show(lv[r])}, column {show(lv[c])} is {show(d[r, c])} but row "
            f"{show(lv[c])}, column {show(lv[r])} is {show(d[c, r])}",
            "a distance matrix has the same distance both ways",
        )
        return None
    return d


def matrix_option(text: str) -> tuple[str, pd.DataFrame]:
    """`NAME=FILE.csv` (the command line's --data-matrix): the name and the matrix read.
    ValueError says what is wrong, for the command line to report with the flag."""
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise ValueError(f"expected NAME=FILE.csv, got {text!r}")
    try:
        return name.strip(), read_matrix(path.strip())
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"cannot read {path.strip()!r} as a matrix: {exc}") from None


def with_matrices(table: Any, named: list[tuple[str, pd.DataFrame]] | None) -> Any:
    """The table alone, or {"table": table, NAME: matrix, ...} when matrices were given."""
    if not named:
        return table
    return {TABLE_KEY: table, **dict(named)}
