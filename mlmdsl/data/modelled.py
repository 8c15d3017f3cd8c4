"""Binding modelled columns: which cells are observed, which are parameters (compiler/ir.Modelled).

A modelled column's missing cells are not an error: they become the Stan data of the imputation
(the observed values with 0 in the missing cells, the count of missing cells and their rows), and
the labels of the imputed values (`row 7`: the data's own row label). A column absent from the
data is missing everywhere (a latent quantity). A discrete modelled column is read as data: a
missing value there is an error, as imputing it would need marginalisation.

A missing value in a column that is not modelled stays E401; for a row-level predictor its hint
shows the line that would model the column.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from mlmdsl.compiler.diagnostics import Diagnostic, error, warning
from mlmdsl.compiler.ir import ROWS, CheckedModel, DataVar, Modelled
from mlmdsl.data.messages import count, rows_text

# A group effect named like a column of the table, which is then not read.
SHADOWED = "W520"

if TYPE_CHECKING:
    from mlmdsl.data.bind import _Binder


def imputable(m: CheckedModel, name: str) -> Modelled | None:
    return m.modelled_named(name)


def discrete_missing(m: CheckedModel, name: str, rows: np.ndarray, span: Any) -> Diagnostic | None:
    """E401 for missing values in a discrete modelled column."""
    c = next((c for c in m.modelled if c.name == name and c.discrete), None)
    if c is None:
        return None
    lk = next(lk for lk in m.likelihoods if lk.outcome == name)
    return error(
        "E401",
        f"column `{name}` has {count(len(rows), 'missing value')} ({rows_text(rows)}); it is modelled "
        f"(line {c.line}) but {lk.family.name} is discrete, so imputing it would need marginalising "
        "over its values, which mlmdsl does not do",
        span,
        "fill in the values, or pass drop_missing=True (or --drop-missing) to drop these rows",
    )


def missing_hint(m: CheckedModel, name: str) -> str:
    """E401's hint: the line that would model a row-level predictor, or dropping the rows."""
    drop = "pass drop_missing=True (or --drop-missing) to drop these rows"
    kinds = {dv.kind for dv in m.data_vars(name, ROWS)}
    if kinds != {"predictor"}:
        return drop
    i = m.row_letter
    return (
        f"to impute them, model the column with its own line, e.g. `{name}[{i}] ~ Normal(nu_{name}, "
        f"sigma_{name})` (with priors for nu_{name} and sigma_{name}); or {drop}"
    )


def observed(
    b: _Binder, dv: DataVar, check: Callable[[_Binder, DataVar], np.ndarray | None]
) -> tuple[np.ndarray, np.ndarray] | None:
    """The observed values with 0 in the missing cells, and the 1-based rows of those cells;
    None when the observed values fail `check` (the family's support; reported by it)."""
    n = len(b.df)
    if dv.name in b.absent:
        return np.zeros(n), np.arange(1, n + 1)
    mask = b.df[dv.name].isna().to_numpy(dtype=bool)
    values = np.zeros(n)
    if not mask.all():
        # The support check sees the observed cells only, with their own row numbers.
        df, rows, numeric = b.df, b.rows, dict(b._numeric)
        b.df, b.rows = df[~mask], rows[~mask]
        b._numeric.pop(dv.name, None)
        try:
            checked = check(b, dv)
        finally:
            b.df, b.rows, b._numeric = df, rows, numeric
        if checked is None:
            return None
        values[~mask] = checked
    return values, np.flatnonzero(mask) + 1


def stan_data(b: _Binder, c: Modelled, rows: np.ndarray) -> dict[str, Any]:
    return {c.n_missing: int(len(rows)), c.missing_rows: rows.astype(np.int64)}


def labels(b: _Binder, rows: np.ndarray) -> list[str]:
    index = b.df.index.tolist()
    return [f"row {index[r - 1]}" for r in rows]


def shadowed_columns(m: CheckedModel, columns: list[str]) -> list[Diagnostic]:
    """W520: a group effect named like a column of the table. `z[j] ~ Normal(nu, tau)` makes `z`
    a parameter per level, so the column is not read; imputing the missing levels of a
    group-level column (a modelled column at group level) is not supported yet."""
    out = []
    present = set(columns)
    for p in m.params:
        if p.shape != "group" or p.name not in present or p.block is not None:
            continue
        out.append(
            warning(
                SHADOWED,
                f"the data has a column `{p.name}`, but `{p.name}[j] ~ {p.prior.family.name}(...)` "
                f"(line {p.line}) makes `{p.name}` a parameter per level of `{p.domain}`, so the column is not read",
                p.prior.stmt.lhs.span,
                "rename the effect if the column is unrelated; a group-level column with missing levels "
                "cannot be modelled (imputed) yet",
            )
        )
    return out
