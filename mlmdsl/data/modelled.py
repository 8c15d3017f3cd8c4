"""Binding modelled columns: which cells are observed, which are parameters (compiler/ir.Modelled).

A modelled column's missing cells are not an error: they become the Stan data of the imputation
(the observed values with 0 in the missing cells, the count of missing cells and their rows), and
the labels of the imputed values (`row 7`: the data's own row label). A column absent from the
data is missing everywhere (a latent quantity). A discrete modelled column is read as data: a
missing value there is an error, as imputing it would need marginalisation.

A missing value in a column that is not modelled stays E401; for a row-level predictor its hint
shows the line that would model the column.

At group level (`x[j] ~ Normal(nu, tau)` with `x[id[i]]`, compiled against the table's columns:
`for_columns`), the cells are the levels of the grouping: a level's value is the one its rows
hold (rows left blank in a level that has a value elsewhere take that value), it must be the same
in all of them (E403, naming the level and two rows), and a level whose rows are all blank is
imputed, labelled `id 17` by the grouping's own label.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import numpy as np

from mlmdsl.compiler import Compiled, compile_source
from mlmdsl.compiler.diagnostics import Diagnostic, error, warning
from mlmdsl.compiler.ir import ROWS, CheckedModel, DataVar, Modelled
from mlmdsl.compiler.passes.modelled import group_line_names
from mlmdsl.data.messages import count, rows_text, show

# A group effect named like a column of the table, which is then not read.
SHADOWED = "W520"

if TYPE_CHECKING:
    from mlmdsl.data.bind import _Binder


def for_columns(compiled: Compiled, columns: Collection[Any], **options: Any) -> Compiled:
    """The model compiled against a table with these columns. A group-level line on a column's
    name (`x[j] ~ Normal(nu, tau)`) then models the column rather than declaring an effect, so
    the program is recompiled when the table has such a column the compilation did not know of;
    otherwise `compiled` is returned as it is. `options` are compile_source's (the caller's
    parameterization), given again for the recompilation."""
    names = group_line_names(compiled.program) & {str(c) for c in columns} if compiled.program else frozenset()
    if names == compiled.columns:
        return compiled
    return compile_source(
        compiled.source,
        compiled.filename,
        generated_quantities=compiled.generated_quantities,
        columns=names,
        **options,
    )


def imputable(m: CheckedModel, name: str) -> Modelled | None:
    return m.modelled_named(name)


def group_level(m: CheckedModel, name: str) -> Modelled | None:
    """A group-level modelled column of that name, continuous or discrete."""
    return next((c for c in m.modelled if c.name == name and c.prior is not None), None)


def _discrete_message(c: Modelled, family: str, what: str) -> str:
    return (
        f"{what}; it is modelled (line {c.line}) but {family} is discrete, so imputing it would need "
        "marginalising over its values, which mlmdsl does not do"
    )


def discrete_missing(m: CheckedModel, name: str, rows: np.ndarray, span: Any) -> Diagnostic | None:
    """E401 for missing values in a discrete modelled column."""
    c = next((c for c in m.modelled if c.name == name and c.discrete), None)
    if c is None:
        return None
    lk = next(lk for lk in m.likelihoods if lk.outcome == name)
    return error(
        "E401",
        _discrete_message(
            c, lk.family.name, f"column `{name}` has {count(len(rows), 'missing value')} ({rows_text(rows)})"
        ),
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


def per_level(
    b: _Binder, dv: DataVar, c: Modelled, check: Callable[[_Binder, DataVar], np.ndarray | None]
) -> np.ndarray | None:
    """A group-level modelled column: one value per level of its grouping (0 where a level has
    none), the levels without a value kept in `b.imputed`. None when a check failed (reported):
    the observed cells against the family's support, one value per level (E403), and, for a
    discrete column, no level without a value (E401)."""
    coding = b.coding.get(c.level)
    if coding is None:
        return None  # the grouping's own problem is reported
    n = len(b.df)
    mask = np.ones(n, dtype=bool) if dv.name in b.absent else b.df[dv.name].isna().to_numpy(dtype=bool)
    row_values = np.zeros(n)
    if not mask.all():
        df, rows, numeric = b.df, b.rows, dict(b._numeric)
        b.df, b.rows = df[~mask], rows[~mask]
        b._numeric.pop(dv.name, None)
        try:
            checked = check(b, dv)  # the support, on the observed cells with their own row numbers
        finally:
            b.df, b.rows, b._numeric = df, rows, numeric
        if checked is None:
            return None
        row_values[~mask] = checked
    k = len(coding.levels)
    codes = coding.codes - 1
    seen = np.flatnonzero(~mask)
    first = np.full(k, -1)
    # The first observed row of each level (reversed assignment: the earliest row wins).
    first[codes[seen[::-1]]] = seen[::-1]
    values = np.zeros(k)
    has = first >= 0
    values[has] = row_values[first[has]]
    differs = seen[row_values[seen] != values[codes[seen]]]
    if len(differs):
        at = int(differs[np.argmin(codes[differs])])  # the first offending level, in level order
        b.diags.append(_varies(b, dv, c, coding.levels[codes[at]], row_values, int(first[codes[at]]), at))
        return None
    missing = np.flatnonzero(~has) + 1
    if c.discrete and len(missing):
        family = c.prior.family.name if c.prior is not None else "it"
        shown = ", ".join(show(coding.levels[m - 1]) for m in missing[:5]) + (" ..." if len(missing) > 5 else "")
        b.diags.append(
            error(
                "E401",
                _discrete_message(
                    c,
                    family,
                    f"column `{dv.name}` has no value for {count(len(missing), 'level')} of `{c.level}` ({shown})",
                ),
                dv.span,
                "give these levels a value in at least one of their rows, or drop their rows",
            )
        )
        return None
    b.imputed[c.name] = missing
    return values.astype(np.int64) if c.discrete else values


def _varies(
    b: _Binder, dv: DataVar, c: Modelled, label: object, values: np.ndarray, first: int, other: int
) -> Diagnostic:
    g, i = c.level, b.m.row_letter
    return error(
        "E403",
        f"`{dv.name}` is modelled with one value per level of `{g}` (line {c.line}), so it must be "
        f"constant within each level, but {g} {show(label)} has {dv.name} = {show(values[first])} "
        f"(row {b.rows[first]}) and {dv.name} = {show(values[other])} (row {b.rows[other]})",
        dv.span,
        f"a column that varies within a `{g}` is a row-level column: model it as `{dv.name}[{i}] ~ ...` "
        f"and use `{dv.name}[{i}]`; if the column is unrelated to this line, rename the line's `{dv.name}` "
        "(a group-level line named like a column models that column)",
    )


def stan_data(b: _Binder, c: Modelled, rows: np.ndarray) -> dict[str, Any]:
    return {c.n_missing: int(len(rows)), c.missing_rows: rows.astype(np.int64)}


def labels(b: _Binder, c: Modelled, rows: np.ndarray) -> list[str]:
    """`row 7` (the data's row label) per missing cell; `id 17` (the level's label) at group level."""
    if c.prior is not None:
        coding = b.coding[c.level]
        assert coding is not None
        return [f"{c.level} {coding.levels[r - 1]}" for r in rows]
    index = b.df.index.tolist()
    return [f"row {index[r - 1]}" for r in rows]


def shadowed_columns(m: CheckedModel, columns: list[str]) -> list[Diagnostic]:
    """W520: a group effect named like a column of the table. `z[j] ~ Normal(nu, tau)` makes `z`
    a parameter per level when the model was compiled without the table's columns (or the effect
    is correlated, a Gaussian process or sums to zero), so the column is not read."""
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
                "rename the effect if the column is unrelated; to model the column (one value per level, "
                "missing levels imputed), compile the model against the table: Model.fit, Model.bind, "
                "`mlm check --data` and the editor's `# data:` do (compile_source(..., columns=...)); "
                "correlated, Gaussian-process and sum-to-zero effects are always effects",
            )
        )
    return out
