"""The data binder: a table of rows in, the Stan data dictionary and the level labels out.

The orchestrator: reading is `read`, level coding `levels`, the support of outcomes `support`,
within-group constancy `constancy`; this module decides which columns are read, handles missing
values, computes data-only derived quantities and assembles the result.

The checker decided from the text alone which names are columns and at which level each is used
(`ir.DataVar`); this module confirms that against an actual table. Grouping columns are coded
1..K in sorted level order (the labels are kept for every output), group-level columns are reduced
to one value per level, outcomes are checked against their family's support. Every problem is a
Diagnostic pointing at the column's first use in the model; as many as can be found are
collected before `DataError` is raised.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from mlmdsl.compiler import ast
from mlmdsl.compiler.diagnostics import Diagnostic, error, suggest, warning
from mlmdsl.compiler.evaluate import EvalError, evaluate
from mlmdsl.compiler.ir import ROWS, CheckedModel, DataVar, Derived
from mlmdsl.data import constancy, estimable, levels, matrices, modelled, support
from mlmdsl.data.levels import Coding, coding
from mlmdsl.data.messages import DataError, count, name_list, rows_text, show
from mlmdsl.data.read import DUPLICATES_ATTR, SOURCE_ATTR, read_table

# Not yet in diagnostics.CODES: rows dropped on request because of missing values.
DROPPED_ROWS = "W505"


@dataclass(frozen=True)
class BoundData:
    stan_data: dict[str, int | np.ndarray]
    # Every output dim -> its labels in Stan's 1..K order: each grouping's levels as the data
    # spells them, the effects of correlated blocks ("Subject_effect" -> ["a", "b"]) and the
    # cutpoints of ordered outcomes ("response_cutpoint" -> ["1|2", "2|3", ...]).
    labels: dict[str, list]
    obs_labels: list  # the index labels of the rows used
    observed: dict[str, np.ndarray]  # outcome -> its values
    info: dict[str, Any]
    diagnostics: list[Diagnostic] = field(default_factory=list)  # warnings and notes


# ---- binding -----------------------------------------------------------------------------


def bind(
    model: CheckedModel, data: pd.DataFrame | str | Path, *, drop_missing: bool = False
) -> BoundData:
    """Check `data` against the model and build the Stan data; DataError lists every problem.
    `data` may be a mapping {"table": table, "Dmat": matrix, ...} with the matrices a model's
    Gaussian processes use (data/matrices.py)."""
    data, supplied = matrices.split_data(data)
    try:
        df = read_table(data)
    except DataError as exc:  # re-raised with the model, so it renders as FILE:LINE like the rest
        raise DataError(exc.diagnostics, model.program.source, model.program.filename) from None
    binder = _Binder(model, df, drop_missing)
    binder.matrices = supplied
    return binder.run()


@dataclass
class _Column:
    """A data column the model reads, and where it is first used (for diagnostics)."""

    name: str
    span: ast.Span
    needed_for: list[str] = field(default_factory=list)  # derived indices computed from it


class _Binder:
    def __init__(self, model: CheckedModel, df: pd.DataFrame, drop_missing: bool) -> None:
        self.m = model
        self.df = df
        self.drop_missing = drop_missing
        self.source = str(df.attrs.get(SOURCE_ATTR, "DataFrame"))
        # Text that looks like numbers only reaches us from a file if other values in the column
        # were not numbers; a DataFrame's author may have meant text, so only files are judged.
        self.from_file = SOURCE_ATTR in df.attrs
        self.rows = np.arange(1, len(df) + 1)  # data rows as a spreadsheet user counts them
        self.diags: list[Diagnostic] = []
        self.dropped_rows: list[int] = []
        self.data_only = {d.name: d for d in model.derived if d.data_only}
        self.columns = self.columns_used()
        self.absent: set[str] = set()
        self._numeric: dict[str, np.ndarray | None] = {}
        self._values: dict[str, np.ndarray | None] = {}
        self.coding: dict[str, Coding | None] = {}
        self.categories: dict[str, list] = {}  # ordered outcome -> its categories, in order
        self.reported_infinite: set[str] = set()
        self.imputed: dict[str, np.ndarray] = {}  # modelled column -> rows of its missing cells
        self.matrices: dict[str, Any] = {}  # supplied beside the table, by name
        self.matrix_data: dict[str, np.ndarray] = {}

    # -- the pipeline ------------------------------------------------------------------
    def run(self) -> BoundData:
        if len(self.df) == 0:
            self.fail([error("E406", f"`{self.source}` has no data rows")])
        self.check_columns()
        self.missing_values()
        if len(self.df) == 0:
            if self.drop_missing:
                self.diags.append(
                    error("E401", "no rows are left after dropping rows with missing values")
                )
            # Without drop_missing each column's E401 already says which rows are missing.
            self.fail(self.diags)
        for name in self.m.groupings:
            self.coding[name] = self.code_grouping(name)
        arrays = [self.bind_var(dv) for dv in self.m.data]
        levels_of = {name: c.levels for name, c in self.coding.items() if c is not None}
        self.matrix_data, found = matrices.bind_matrices(self.m, self.matrices, levels_of)
        self.diags += found
        if any(d.is_error for d in self.diags):
            self.fail(self.diags)
        self.diags += estimable.warnings(self.m, self.coding, arrays, self.source, len(self.df))
        self.diags += modelled.shadowed_columns(self.m, [str(c) for c in self.df.columns])
        return self.result(arrays)

    def fail(self, diags: list[Diagnostic]) -> NoReturn:
        raise DataError(diags, self.m.program.source, self.m.program.filename)

    def result(self, arrays: Sequence[np.ndarray | None]) -> BoundData:
        stan_data: dict[str, int | np.ndarray] = {"N": len(self.df)}
        for name, grouping in self.m.groupings.items():
            coding = self.coding[name]
            assert coding is not None  # a failed coding was reported as an error
            stan_data[grouping.stan_size] = len(coding.levels)
        observed: dict[str, np.ndarray] = {}
        for dv, values in zip(self.m.data, arrays, strict=True):
            assert values is not None  # a failure was reported as an error
            if dv.in_stan:
                stan_data[dv.stan] = values
            if dv.kind == "outcome" and dv.level == ROWS:  # a group-level modelled column is not per row
                observed[dv.name] = values
        labels = {name: c.levels for name, c in self.coding.items() if c is not None}
        labels.update(self.m.dim_labels())
        stan_data.update(self.matrix_data)
        for c in self.m.modelled:
            if c.name in self.imputed:
                stan_data.update(modelled.stan_data(self, c, self.imputed[c.name]))
                labels[c.dim] = modelled.labels(self, c, self.imputed[c.name])
        for o in self.m.ordinals:
            categories = self.categories[o.outcome]
            stan_data[o.stan_k] = len(categories)
            labels[o.dim] = [f"{a}|{b}" for a, b in zip(categories[:-1], categories[1:], strict=True)]
        for sx in self.m.simplexes:  # an estimated simplex has one entry per category
            stan_data[sx.stan_k] = len(self.categories[sx.outcome])
        for lk in self.m.likelihoods:  # unordered categories: their labels, codes 1..K
            if lk.family.support == "categorical" and lk.outcome in self.categories:
                labels[f"{lk.outcome}_category"] = list(self.categories[lk.outcome])
        info = {
            "N": len(self.df),
            "source": self.source,
            "dropped": len(self.dropped_rows),
            "dropped_rows": self.dropped_rows,
            "columns": [c for c in self.columns if c not in self.absent],
        }
        return BoundData(
            stan_data, labels, self.df.index.tolist(), observed, info, list(self.diags)
        )

    # -- which columns, and are they there ---------------------------------------------
    def columns_used(self) -> dict[str, _Column]:
        cols: dict[str, _Column] = {}
        for dv in self.m.data:
            if dv.derived is None:
                cols.setdefault(dv.name, _Column(dv.name, dv.span))
        for dv in self.m.data:
            if dv.derived is None:
                continue
            for name, span in self.columns_in(dv.derived, frozenset({dv.name})):
                col = cols.setdefault(name, _Column(name, span))
                if dv.name not in col.needed_for:
                    col.needed_for.append(dv.name)
        return cols

    def columns_in(self, expr: ast.Expr, seen: frozenset[str]) -> Iterable[tuple[str, ast.Span]]:
        """The columns an expression reads, through the data-only quantities it uses."""
        for node in ast.walk(expr):
            if not (isinstance(node, ast.Index) and isinstance(node.base, ast.Name)):
                continue
            name = node.base.id
            if name in self.data_only and name not in seen:
                yield from self.columns_in(self.data_only[name].rhs, seen | {name})
            elif name not in self.data_only:
                yield name, node.base.span

    def check_columns(self) -> None:
        names = [str(c) for c in self.df.columns]
        repeated = self.df.attrs.get(DUPLICATES_ATTR, {})  # a file's header, before pandas renamed
        for col in self.columns.values():
            count = repeated.get(col.name) or names.count(col.name)
            if count == 1:
                continue
            self.absent.add(col.name)
            if count == 0 and modelled.imputable(self.m, col.name) is not None:
                continue  # a latent column: every cell is a parameter
            if count > 1:
                self.diags.append(
                    error(
                        "E406",
                        f"column `{col.name}` appears {count} times in the data",
                        col.span,
                        "give each column its own name; only one of them can be read",
                    )
                )
                continue
            message = f"column `{col.name}` is not in the data"
            if col.needed_for:
                message += f" (needed to compute {name_list(col.needed_for)})"
            self.diags.append(error("E400", message, col.span, _column_hint(col.name, names)))
        # Integer or other non-text column names: address them by their text from here on.
        self.df = self.df.set_axis([str(c) for c in self.df.columns], axis=1)

    # -- missing values ----------------------------------------------------------------
    def missing_values(self) -> None:
        # A modelled column's missing cells are parameters, not missing data (data/modelled.py).
        present = [
            c
            for c in self.columns
            if c not in self.absent
            and modelled.imputable(self.m, c) is None
            and modelled.group_level(self.m, c) is None
        ]
        masks = {c: m for c in present if (m := _missing_mask(self.df[c])).any()}
        if not masks:
            return
        if not self.drop_missing:
            for name, mask in masks.items():
                rows = self.rows[mask]
                discrete = modelled.discrete_missing(self.m, name, rows, self.span_of(name))
                self.diags.append(
                    discrete
                    or error(
                        "E401",
                        f"column `{name}` has {count(len(rows), 'missing value')} "
                        f"({rows_text(rows)})",
                        self.span_of(name),
                        modelled.missing_hint(self.m, name),
                    )
                )
        any_missing = np.logical_or.reduce(list(masks.values()))
        if self.drop_missing:
            self.dropped_rows = self.rows[any_missing].tolist()
            first = self.columns[next(iter(masks))]
            self.diags.append(
                warning(
                    DROPPED_ROWS,
                    f"dropped {count(len(self.dropped_rows), 'row')} with missing values in "
                    f"{name_list(masks)} ({rows_text(self.rows[any_missing])})",
                    first.span,
                )
            )
        # Without drop_missing the run fails anyway; checking the complete rows still finds the
        # other problems in the same run.
        self.df = self.df[~any_missing]
        self.rows = self.rows[~any_missing]

    # -- values of columns and data-only derived quantities ----------------------------
    def numeric(self, name: str, hint: str | None = None) -> np.ndarray | None:
        """The column as floats; E404 (once per column) if it holds something else."""
        if name not in self._numeric:
            values, bad = _as_float(self.df[name])
            if values is None:
                self.diags.append(
                    error("E404", self.not_numeric_message(name, bad), self.span_of(name), hint)
                )
            self._numeric[name] = values
        return self._numeric[name]

    def span_of(self, column: str) -> ast.Span:
        col = self.columns.get(column)
        return col.span if col is not None else ast.NO_SPAN

    def not_numeric_message(self, name: str, bad: int | None) -> str:
        series = self.df[name]
        if bad is None:
            return f"column `{name}` must hold numbers, but it holds {series.dtype} values"
        value = show(series.iloc[bad])
        return f"column `{name}` must hold numbers, but row {self.rows[bad]} holds {value}"

    def value_of(self, name: str) -> np.ndarray | None:
        """Row-level values of a column or of a data-only derived quantity (None: reported)."""
        if name not in self._values:
            derived = self.data_only.get(name)
            if derived is not None:
                self._values[name] = self.compute(derived)
            elif name in self.absent or name not in self.df.columns:
                self._values[name] = None
            else:
                self._values[name] = self.numeric(
                    name, _TEXT_HINT.format(name=name, letter=self.m.row_letter)
                )
        return self._values[name]

    def compute(self, derived: Derived) -> np.ndarray | None:
        return self.evaluate_rows(
            derived.rhs, self.m.statement_letters.get(id(derived.stmt), self.m.row_letter)
        )

    def evaluate_rows(self, expr: ast.Expr, letter: str) -> np.ndarray | None:
        env: dict[str, np.ndarray] = {}
        for node in ast.walk(expr):
            if isinstance(node, ast.Index) and isinstance(node.base, ast.Name):
                value = self.value_of(node.base.id)
                if value is None:
                    return None
                env[node.base.id] = value
        try:
            result = evaluate(expr, env, letter)
        except EvalError as exc:
            self.diags.append(
                error(
                    "E315", f"cannot compute `{ast.to_text(expr)}` from the data: {exc}", exc.span
                )
            )
            return None
        return np.broadcast_to(np.asarray(result, dtype=float), (len(self.df),))

    # -- groupings ---------------------------------------------------------------------
    def code_grouping(self, name: str) -> Coding | None:
        """The levels of a grouping, from the full column so every use codes them alike."""
        source = next(
            (dv for dv in self.m.data if dv.kind == "index" and dv.grouping == name), None
        )
        if source is not None and source.derived is not None:
            values = (
                self.value_of(name)
                if name in self.data_only
                else self.evaluate_rows(source.derived, self.m.row_letter)
            )
            if values is None:
                return None
            values = support.whole_numbers(
                self, values, source, f"`{name}` = {ast.to_text(source.derived)}", "an index"
            )
            return None if values is None else coding(values)
        if name in self.absent or name not in self.df.columns:
            return None
        return levels.label_coding(self, name)


    # -- one DataVar -------------------------------------------------------------------
    def bind_var(self, dv: DataVar) -> np.ndarray | None:
        if dv.kind == "outcome" and (c := modelled.group_level(self.m, dv.name)) is not None:
            return modelled.per_level(self, dv, c, support.outcome)  # observed levels and missing ones
        values = self.row_values(dv)
        if values is None or dv.level == ROWS:
            return values
        return constancy.per_level(self, dv, values)

    def row_values(self, dv: DataVar) -> np.ndarray | None:
        if dv.kind == "index":
            coding = self.coding.get(dv.grouping or dv.name)
            return None if coding is None else coding.codes
        if dv.kind == "outcome" and (c := modelled.imputable(self.m, dv.name)) is not None:
            got = modelled.observed(self, dv, support.outcome)
            if got is None:
                return None
            values, self.imputed[c.name] = got
            return values
        if dv.name in self.absent:
            return None
        if dv.kind == "censoring":
            return support.censoring(self, dv)
        if dv.kind == "outcome":
            return support.outcome(self, dv)
        if dv.kind == "trials":
            return support.trials(self, dv)
        if dv.kind == "bound":
            return support.bound(self, dv)
        values = self.value_of(dv.name)
        if values is not None and dv.name not in self.data_only:
            values = self.finite(dv.name, values)
        if values is None or not dv.integer:
            return values
        return support.whole_numbers(self, values, dv, f"`{dv.name}`", "an integer")

    def finite(self, name: str, values: np.ndarray) -> np.ndarray | None:
        """E408 (once per column) for inf or -inf: Stan rejects them deep inside a fit."""
        bad = ~np.isfinite(values)
        if not bad.any():
            return values
        if name not in self.reported_infinite:
            self.reported_infinite.add(name)
            shown = ", ".join(dict.fromkeys(show(v) for v in values[bad]))
            self.diags.append(
                error(
                    "E408",
                    f"column `{name}` has {count(int(bad.sum()), 'value')} that are not finite "
                    f"({shown}; {rows_text(self.rows[bad])})",
                    self.span_of(name),
                    "replace them with finite numbers, or mark them missing and pass "
                    "drop_missing=True (--drop-missing)",
                )
            )
        return None


    # -- group-level columns -----------------------------------------------------------


# ---- helpers -----------------------------------------------------------------------------

_TEXT_HINT = (
    "recode it as numbers; a column of labels can only be used as an index, "
    "e.g. a[{name}[{letter}]]"
)


def _missing_mask(series: pd.Series) -> np.ndarray:
    mask = series.isna().to_numpy(dtype=bool)
    if not (ptypes.is_numeric_dtype(series.dtype) or ptypes.is_bool_dtype(series.dtype)):
        blank = np.array(
            [isinstance(v, str) and not v.strip() for v in series.to_numpy(dtype=object)],
            dtype=bool,
        )
        mask = mask | blank
    return mask


def _as_float(series: pd.Series) -> tuple[np.ndarray | None, int | None]:
    """Floats, or None and the position of the first value that is not a number."""
    if ptypes.is_complex_dtype(series.dtype):
        return None, None  # never cast silently: the imaginary part would be dropped
    if ptypes.is_bool_dtype(series.dtype) or ptypes.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype=float), None
    if not (ptypes.is_object_dtype(series.dtype) or ptypes.is_string_dtype(series.dtype)):
        if isinstance(series.dtype, pd.CategoricalDtype):
            return _as_float(series.astype(object))
        return None, None
    converted = pd.to_numeric(series, errors="coerce")
    failed = converted.isna().to_numpy(dtype=bool) & ~series.isna().to_numpy(dtype=bool)
    if failed.any():
        return None, int(np.flatnonzero(failed)[0])
    return converted.to_numpy(dtype=float), None


def _column_hint(name: str, columns: Sequence[str]) -> str:
    near = suggest(name, columns)
    if near is not None:
        return f"did you mean `{near}`?"
    shown = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
    return f"the data's columns are: {shown}" if columns else "the data has no columns"


