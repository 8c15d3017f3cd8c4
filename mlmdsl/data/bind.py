"""The data binder: a table of rows in, the Stan data dictionary and the level labels out.

The checker decided from the text alone which names are columns and at which level each is used
(`ir.DataVar`); this module confirms that against an actual table. Grouping columns are coded
1..K in sorted level order (the labels are kept for every output), group-level columns are reduced
to one value per level, outcomes are checked against their family's support. Every problem is a
Diagnostic pointing at the column's first use in the model; as many as can be found are
collected before `DataError` is raised.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from mlmdsl.compiler import ast
from mlmdsl.compiler.diagnostics import Diagnostic, error, render_text, suggest, warning
from mlmdsl.compiler.evaluate import EvalError, evaluate
from mlmdsl.compiler.families import Family
from mlmdsl.compiler.ir import ROWS, CheckedModel, DataVar, Derived

# Not yet in diagnostics.CODES: rows dropped on request because of missing values.
DROPPED_ROWS = "W505"

_SEPARATORS = (",", ";", "\t")
_SOURCE_ATTR = "mlmdsl.source"  # set by read_table, so bind() can name the file it came from
_MAX_ROWS_SHOWN = 5
_NUMBER_TEXT = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


class DataError(Exception):
    """The data does not fit the model; carries every data diagnostic found."""

    def __init__(
        self, diagnostics: Iterable[Diagnostic], source: str = "", filename: str = "<model>"
    ):
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        self.source = source
        self.filename = filename
        super().__init__(render_text(self.diagnostics, source, filename))


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


# ---- reading -----------------------------------------------------------------------------


def read_table(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """A DataFrame as is; a file path or http(s) URL read as delimited text (`,` `;` or tab)."""
    if isinstance(source, pd.DataFrame):
        return source
    name = str(source)
    try:
        text = _read_text(name)
    except OSError as exc:  # urllib's URLError is an OSError too
        _unreadable(name, f"cannot read `{name}`: {_reason(exc)}", _file_hint(name))
    if "\x00" in text:
        _unreadable(
            name,
            f"`{name}` is not a text table",
            "export it as CSV: spreadsheets are not read directly",
        )
    try:
        df = pd.read_csv(io.StringIO(text), sep=_detect_separator(text), skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _unreadable(name, f"cannot read `{name}` as a table: {message}")
    if isinstance(df.index, pd.RangeIndex):
        df.index = pd.RangeIndex(1, len(df) + 1)  # rows labelled as messages count them
    df.attrs[_SOURCE_ATTR] = _display_name(name)
    return df


def _unreadable(name: str, message: str, hint: str | None = None) -> NoReturn:
    raise DataError([error("E406", message, hint=hint)], filename=name) from None


def _is_url(name: str) -> bool:
    return name.startswith(("http://", "https://"))


def _read_text(name: str) -> str:
    if _is_url(name):
        with urllib.request.urlopen(name, timeout=60) as response:
            raw = response.read()
    else:
        raw = Path(name).expanduser().read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # older R exports; every byte decodes


def _detect_separator(text: str) -> str:
    """The separator that splits the header into the most fields (quoted names respected)."""
    header = next((line for line in text.splitlines() if line.strip()), "")

    def fields(sep: str) -> int:
        return len(next(csv.reader([header], delimiter=sep), []))

    return max(_SEPARATORS, key=fields)  # max keeps the first of equals: "," when in doubt


def _display_name(name: str) -> str:
    return name.rstrip("/").rsplit("/", 1)[-1] if _is_url(name) else Path(name).name


def _reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "it is a folder"
    return str(getattr(exc, "reason", None) or exc.strerror or exc)


def _file_hint(name: str) -> str | None:
    if _is_url(name):
        return None
    path = Path(name).expanduser()
    if not path.parent.is_dir():
        return None
    near = suggest(path.name, (p.name for p in path.parent.iterdir() if p.is_file()))
    return f"did you mean `{path.parent / near}`?" if near else None


# ---- binding -----------------------------------------------------------------------------


def bind(
    model: CheckedModel, data: pd.DataFrame | str | Path, *, drop_missing: bool = False
) -> BoundData:
    """Check `data` against the model and build the Stan data; DataError lists every problem."""
    try:
        df = read_table(data)
    except DataError as exc:  # re-raised with the model, so it renders as FILE:LINE like the rest
        raise DataError(exc.diagnostics, model.program.source, model.program.filename) from None
    return _Binder(model, df, drop_missing).run()


@dataclass
class _Column:
    """A data column the model reads, and where it is first used (for diagnostics)."""

    name: str
    span: ast.Span
    needed_for: list[str] = field(default_factory=list)  # derived indices computed from it


@dataclass(frozen=True)
class _Coding:
    levels: list  # sorted distinct values, as Python scalars
    codes: np.ndarray  # per row, 1-based


class _Binder:
    def __init__(self, model: CheckedModel, df: pd.DataFrame, drop_missing: bool) -> None:
        self.m = model
        self.df = df
        self.drop_missing = drop_missing
        self.source = str(df.attrs.get(_SOURCE_ATTR, "DataFrame"))
        # Text that looks like numbers only reaches us from a file if other values in the column
        # were not numbers; a DataFrame's author may have meant text, so only files are judged.
        self.from_file = _SOURCE_ATTR in df.attrs
        self.rows = np.arange(1, len(df) + 1)  # data rows as a spreadsheet user counts them
        self.diags: list[Diagnostic] = []
        self.dropped_rows: list[int] = []
        self.data_only = {d.name: d for d in model.derived if d.data_only}
        self.columns = self.columns_used()
        self.absent: set[str] = set()
        self._numeric: dict[str, np.ndarray | None] = {}
        self._values: dict[str, np.ndarray | None] = {}
        self.coding: dict[str, _Coding | None] = {}
        self.categories: dict[str, list] = {}  # ordered outcome -> its categories, in order

    # -- the pipeline ------------------------------------------------------------------
    def run(self) -> BoundData:
        if len(self.df) == 0:
            self.fail([error("E406", f"`{self.source}` has no data rows")])
        self.check_columns()
        self.missing_values()
        if len(self.df) == 0:
            self.diags.append(
                error("E401", "no rows are left after dropping rows with missing values")
            )
            self.fail(self.diags)
        for name in self.m.groupings:
            self.coding[name] = self.code_grouping(name)
        arrays = [self.bind_var(dv) for dv in self.m.data]
        if any(d.is_error for d in self.diags):
            self.fail(self.diags)
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
            if dv.kind == "outcome":
                observed[dv.name] = values
        labels = {name: c.levels for name, c in self.coding.items() if c is not None}
        labels.update(self.m.dim_labels())
        for o in self.m.ordinals:
            categories = self.categories[o.outcome]
            stan_data[o.stan_k] = len(categories)
            labels[o.dim] = [f"{a}|{b}" for a, b in zip(categories[:-1], categories[1:], strict=True)]
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
        for col in self.columns.values():
            count = names.count(col.name)
            if count == 1:
                continue
            self.absent.add(col.name)
            if count > 1:
                self.diags.append(
                    error(
                        "E406", f"column `{col.name}` appears {count} times in the data", col.span
                    )
                )
                continue
            message = f"column `{col.name}` is not in the data"
            if col.needed_for:
                message += f" (needed to compute {_names(col.needed_for)})"
            self.diags.append(error("E400", message, col.span, _column_hint(col.name, names)))
        # Integer or other non-text column names: address them by their text from here on.
        self.df = self.df.set_axis([str(c) for c in self.df.columns], axis=1)

    # -- missing values ----------------------------------------------------------------
    def missing_values(self) -> None:
        present = [c for c in self.columns if c not in self.absent]
        masks = {c: m for c in present if (m := _missing_mask(self.df[c])).any()}
        if not masks:
            return
        if not self.drop_missing:
            for name, mask in masks.items():
                rows = self.rows[mask]
                self.diags.append(
                    error(
                        "E401",
                        f"column `{name}` has {_count(len(rows), 'missing value')} "
                        f"({_rows_text(rows)})",
                        self.span_of(name),
                        "pass drop_missing=True (or --drop-missing) to drop these rows",
                    )
                )
        any_missing = np.logical_or.reduce(list(masks.values()))
        if self.drop_missing:
            self.dropped_rows = self.rows[any_missing].tolist()
            first = self.columns[next(iter(masks))]
            self.diags.append(
                warning(
                    DROPPED_ROWS,
                    f"dropped {_count(len(self.dropped_rows), 'row')} with missing values in "
                    f"{_names(masks)} ({_rows_text(self.rows[any_missing])})",
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
        value = _show(series.iloc[bad])
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
    def code_grouping(self, name: str) -> _Coding | None:
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
            values = self.whole_numbers(
                values, source, f"`{name}` = {ast.to_text(source.derived)}", "an index"
            )
            return None if values is None else _coding(values)
        if name in self.absent or name not in self.df.columns:
            return None
        return self.label_coding(name)

    def label_coding(self, name: str) -> _Coding | None:
        series = self.df[name]
        if ptypes.is_bool_dtype(series.dtype):
            return _coding(series.to_numpy(dtype=bool))
        if ptypes.is_numeric_dtype(series.dtype):
            return _number_coding(series.to_numpy(dtype=float))
        values = series.to_numpy(dtype=object)
        kinds = np.array([_kind(v, self.from_file) for v in values])
        distinct = list(dict.fromkeys(kinds.tolist()))
        if len(distinct) > 1:
            self.diags.append(self.mixed_types(name, values, kinds, distinct))
            return None
        if distinct == ["number"]:
            return _number_coding(pd.to_numeric(series).to_numpy(dtype=float))
        try:
            return _coding(values)
        except TypeError:
            self.diags.append(
                error(
                    "E404",
                    f"column `{name}` holds values that cannot be sorted into levels",
                    self.span_of(name),
                )
            )
            return None

    def mixed_types(
        self, name: str, values: np.ndarray, kinds: np.ndarray, distinct: list[str]
    ) -> Diagnostic:
        examples = []
        for kind in distinct:
            at = int(np.flatnonzero(kinds == kind)[0])
            examples.append(
                f"{_KIND_NAMES.get(kind, kind)} such as {_show(values[at])} (row {self.rows[at]})"
            )
        return error(
            "E404",
            f"column `{name}` mixes {' and '.join(_KIND_NAMES.get(k, k) for k in distinct)}: "
            f"{', '.join(examples)}",
            self.span_of(name),
            "labels of one grouping must all be numbers or all be text; fix the odd values",
        )

    # -- one DataVar -------------------------------------------------------------------
    def bind_var(self, dv: DataVar) -> np.ndarray | None:
        values = self.row_values(dv)
        if values is None or dv.level == ROWS:
            return values
        return self.per_level(dv, values)

    def row_values(self, dv: DataVar) -> np.ndarray | None:
        if dv.kind == "index":
            coding = self.coding.get(dv.grouping or dv.name)
            return None if coding is None else coding.codes
        if dv.name in self.absent:
            return None
        if dv.kind == "outcome":
            return self.outcome(dv)
        if dv.kind == "trials":
            return self.trials(dv)
        values = self.value_of(dv.name)
        if values is None or not dv.integer:
            return values
        return self.whole_numbers(values, dv, f"`{dv.name}`", "an integer")

    def whole_numbers(
        self, values: np.ndarray, dv: DataVar, what: str, role: str
    ) -> np.ndarray | None:
        bad = ~np.isfinite(values) | (values != np.round(values))
        if not bad.any():
            return values.astype(np.int64)
        first = int(np.flatnonzero(bad)[0])
        self.diags.append(
            error(
                "E405",
                f"{what} has non-integer values ({_rows_text(self.rows[bad])}; "
                f"e.g. {_show(values[first])}) but is used as {role}",
                dv.span,
            )
        )
        return None

    def trials(self, dv: DataVar) -> np.ndarray | None:
        values = self.numeric(dv.name, "the number of trials must be a count: 0, 1, 2, ...")
        if values is None:
            return None
        counts = self.whole_numbers(values, dv, f"`{dv.name}`", "the number of trials")
        negative = values < 0
        if negative.any():
            self.diags.append(self.out_of_support(dv, values, negative, "a count: 0, 1, 2, ..."))
            return None
        return counts

    def outcome(self, dv: DataVar) -> np.ndarray | None:
        family = dv.family
        assert family is not None
        if family.support == "ordinal":
            return self.ordinal(dv, family)
        return self.outcome_values(dv, family)

    def ordinal(self, dv: DataVar, family: Family) -> np.ndarray | None:
        """Ordered categories: a pandas Categorical (its categories, in their order, are 1..K)
        or whole numbers 1..K (K the largest seen)."""
        series = self.df[dv.name]
        if isinstance(series.dtype, pd.CategoricalDtype):
            categories = list(series.cat.categories)
            codes = series.cat.codes.to_numpy().astype(np.int64) + 1
        else:
            codes = self.outcome_values(dv, family, _ORDINAL_HINT)
            if codes is None:
                return None
            categories = list(range(1, int(codes.max()) + 1))
        if len(categories) < 2:
            self.diags.append(
                error(
                    "E402",
                    f"`{dv.name}` has a single category, but {family.name} needs two or more",
                    dv.span,
                )
            )
            return None
        self.categories[dv.name] = categories
        return codes

    def outcome_values(
        self, dv: DataVar, family: Family, hint: str | None = None
    ) -> np.ndarray | None:
        needs = _NEEDS.get(family.support, "numbers")
        values = self.numeric(dv.name, hint or f"{family.name} needs {needs}")
        if values is None:
            return None
        ok = True
        if family.discrete:
            fraction = ~np.isfinite(values) | (values != np.round(values))
            if fraction.any():
                rows = _rows_text(self.rows[fraction])
                example = _show(values[np.flatnonzero(fraction)[0]])
                message = (
                    f"`{dv.name}` has non-integer values ({rows}; e.g. {example}) "
                    f"but {family.name} needs {needs}"
                )
                self.diags.append(error("E405", message, dv.span))
                ok = False
            outside = ~fraction & _outside_support(values, family)
        else:
            outside = _outside_support(values, family)
        if outside.any():
            self.diags.append(self.out_of_support(dv, values, outside, needs, family))
            ok = False
        if ok and family.support == "trials":
            ok = self.within_trials(dv, values)
        if not ok:
            return None
        return values.astype(np.int64) if family.discrete else values

    def out_of_support(
        self,
        dv: DataVar,
        values: np.ndarray,
        bad: np.ndarray,
        needs: str,
        family: Family | None = None,
    ) -> Diagnostic:
        distinct = list(dict.fromkeys(_show(v) for v in values[bad]))
        shown = (
            f"the value {distinct[0]}"
            if len(distinct) == 1
            else "values " + ", ".join(distinct[:_MAX_ROWS_SHOWN])
        )
        who = f" but {family.name} needs {needs}" if family else f" but it must be {needs}"
        hint = _SUPPORT_HINTS.get(family.support) if family else None
        return error(
            "E402",
            f"`{dv.name}` has {shown} ({_rows_text(self.rows[bad])}){who}",
            dv.span,
            hint,
        )

    def within_trials(self, dv: DataVar, successes: np.ndarray) -> bool:
        likelihood = next((lk for lk in self.m.likelihoods if lk.outcome == dv.name), None)
        if likelihood is None or not likelihood.args:
            return True
        n_expr = likelihood.args[0]
        trials = self.evaluate_rows(
            n_expr, self.m.statement_letters.get(id(likelihood.stmt), self.m.row_letter)
        )
        if trials is None or not _counts(trials).all():
            return True  # a problem with the trials column is reported on its own
        over = successes > trials
        if not over.any():
            return True
        first = int(np.flatnonzero(over)[0])
        example = f"{_show(successes[first])} > {_show(trials[first])}"
        if over.sum() > 1:
            example = f"row {self.rows[first]}: {example}"
        self.diags.append(
            error(
                "E402",
                f"`{dv.name}` exceeds the number of trials `{ast.to_text(n_expr)}` in "
                f"{_rows_text(self.rows[over])} ({example})",
                dv.span,
                "Binomial(n, p) counts successes out of n trials: 0 <= outcome <= n",
            )
        )
        return False

    # -- group-level columns -----------------------------------------------------------
    def per_level(self, dv: DataVar, values: np.ndarray) -> np.ndarray | None:
        """One value per level of dv.level: the column must not vary within a level."""
        outer = self.coding.get(dv.level)
        if outer is None:
            return None
        _, first_rows = np.unique(outer.codes, return_index=True)
        per_level = values[first_rows]
        differs = values != per_level[outer.codes - 1]
        if not differs.any():
            return per_level
        # The first offending level in level order, and its first row that disagrees.
        rows = np.flatnonzero(differs)
        at = int(rows[np.argmin(outer.codes[rows])])
        level = int(outer.codes[at]) - 1
        self.diags.append(
            self.varies_within(dv, outer.levels[level], values, int(first_rows[level]), at)
        )
        return None

    def varies_within(
        self, dv: DataVar, label: object, values: np.ndarray, a: int, b: int
    ) -> Diagnostic:
        show = self.shower(dv)
        group = dv.level
        use = _source_text(self.m.program, dv.span) or f"{dv.name}[...]"
        seen = (
            f"{group} {_show(label)} has {dv.name} = {show(values[a])} (row {self.rows[a]}) "
            f"and {dv.name} = {show(values[b])} (row {self.rows[b]})"
        )
        if dv.kind == "index":
            return error(
                "E407",
                f"`{use}` needs one `{dv.name}` per level of `{group}`, but {seen}",
                dv.span,
                f"each `{group}` must sit inside one `{dv.name}`; if `{group}` labels repeat "
                f"across `{dv.name}`s, give them labels unique across the data",
            )
        return error(
            "E403",
            f"`{dv.name}` must be constant within each level of `{group}` "
            f"(it is used as `{use}`), but {seen}",
            dv.span,
            f"a column that varies within a `{group}` is a row-level predictor: "
            f"use `{dv.name}[{self.m.row_letter}]`",
        )

    def shower(self, dv: DataVar) -> Callable[[Any], str]:
        """How to show a value of dv to the user: index codes as the labels they stand for."""
        coding = self.coding.get(dv.grouping or dv.name) if dv.kind == "index" else None
        if coding is None:
            return _show
        return lambda code: _show(coding.levels[int(code) - 1])


# ---- helpers -----------------------------------------------------------------------------

_TEXT_HINT = (
    "recode it as numbers; a column of labels can only be used as an index, "
    "e.g. a[{name}[{letter}]]"
)
_KIND_NAMES = {"number": "numbers", "text": "text", "bool": "true/false values"}
_ORDINAL_HINT = (
    "text has no order: code the categories 1, 2, ..., K in their order, or pass a DataFrame "
    "whose column is a pandas Categorical with the categories in order"
)

_NEEDS: dict[str, str] = {
    "real": "finite numbers",
    "positive": "values above 0",
    "unit": "values strictly between 0 and 1",
    "binary": "0/1",
    "count": "counts (0, 1, 2, ...)",
    "trials": "counts of successes (0, 1, 2, ..., up to the number of trials)",
    "ordinal": "categories coded 1, 2, ..., K",
}

_SUPPORT_HINTS: dict[str, str] = {
    "unit": "move values at 0 or 1 inside the interval, e.g. (y * (N - 1) + 0.5) / N",
    "binary": "recode the outcome as 0 and 1",
    "ordinal": "categories start at 1; add 1 if they are coded from 0",
}


def _outside_support(values: np.ndarray, family: Family) -> np.ndarray:
    finite = np.isfinite(values)
    match family.support:
        case "positive":
            return ~(finite & (values > 0))
        case "unit":
            return ~(finite & (values > 0) & (values < 1))
        case "binary":
            return ~np.isin(values, (0.0, 1.0))
        case "count" | "trials":
            return ~finite | (values < 0)
        case "ordinal":
            return ~finite | (values < 1)
    return ~finite


def _counts(values: np.ndarray) -> np.ndarray:
    return np.isfinite(values) & (values >= 0) & (values == np.round(values))


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


def _kind(value: object, numeric_text: bool) -> str:
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | float | np.number):
        return "number"
    if isinstance(value, str):
        return "number" if numeric_text and _NUMBER_TEXT.match(value) else "text"
    return type(value).__name__


def _number_coding(values: np.ndarray) -> _Coding:
    if np.all(np.isfinite(values) & (values == np.round(values))):
        return _coding(values.astype(np.int64))  # 6.0 read as float because of a gap is id 6
    return _coding(values)


def _coding(values: np.ndarray) -> _Coding:
    levels, inverse = np.unique(values, return_inverse=True)
    return _Coding(levels.tolist(), inverse.reshape(-1).astype(np.int64) + 1)


def _column_hint(name: str, columns: Sequence[str]) -> str:
    near = suggest(name, columns)
    if near is not None:
        return f"did you mean `{near}`?"
    shown = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
    return f"the data's columns are: {shown}" if columns else "the data has no columns"


def _source_text(program: ast.Program, span: ast.Span) -> str:
    if span.line <= 0 or span.end_line != span.line:
        return ""
    return program.line_text(span.line)[span.column - 1 : span.end_column - 1]


def _names(names: Iterable[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _rows_text(rows: np.ndarray) -> str:
    shown = ", ".join(str(r) for r in rows[:_MAX_ROWS_SHOWN])
    more = len(rows) - _MAX_ROWS_SHOWN
    label = "row" if len(rows) == 1 else "rows"
    return f"{label} {shown}" + (f" and {more} more" if more > 0 else "")


def _show(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating):
        return (
            str(int(value)) if np.isfinite(value) and value == int(value) else f"{float(value):g}"
        )
    return str(value.item() if isinstance(value, np.generic) else value)
