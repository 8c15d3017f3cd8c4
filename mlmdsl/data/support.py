"""Support checks: an outcome's values against its family's support, trials as counts.

Each check appends located diagnostics to the binder and returns the values as Stan wants them
(int arrays for discrete families), or None when it reported a problem.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from mlmdsl.compiler import ast
from mlmdsl.compiler.diagnostics import Diagnostic, error, warning
from mlmdsl.compiler.families import Family
from mlmdsl.compiler.ir import CheckedModel, DataVar, Likelihood
from mlmdsl.data.messages import MAX_ROWS_SHOWN, rows_text, show

if TYPE_CHECKING:
    from mlmdsl.data.bind import _Binder

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
    "nonnegative": "values of 0 or above",
    "categorical": "categories coded 1, 2, ..., K (or their labels)",
}


_SUPPORT_HINTS: dict[str, str] = {
    "unit": "move values at 0 or 1 inside the interval, e.g. (y * (N - 1) + 0.5) / N",
    "binary": "recode the outcome as 0 and 1",
    "ordinal": "categories start at 1; add 1 if they are coded from 0",
    "categorical": "categories start at 1; add 1 if they are coded from 0, or use the labels as text",
}


def outcome(b: _Binder, dv: DataVar) -> np.ndarray | None:
    family = dv.family
    assert family is not None
    if family.support == "ordinal":
        return ordinal(b, dv, family)
    if family.support == "categorical":
        return categorical(b, dv, family)
    values = outcome_values(b, dv, family)
    if values is not None and not within_truncation(b, dv, values):
        return None
    return values


def _likelihood(b: _Binder, dv: DataVar) -> Likelihood | None:
    return next((lk for lk in b.m.likelihoods if lk.outcome == dv.name), None)


def categories_in_text(lk: Likelihood, model: CheckedModel | None = None) -> int | None:
    """K of `Categorical(softmax(s1, ..., sK))` or `Categorical([p1, ..., pK])`, or of an estimated
    `Categorical(p)` whose prior lists its concentrations (`p ~ Dirichlet([2, 2, 2])`); None for
    `p ~ Dirichlet(2)`, whose K is the data's number of categories."""
    arg = lk.args[0]
    if isinstance(arg, ast.Call) and arg.func == "softmax":
        return len(arg.args)
    if isinstance(arg, ast.VectorLit):
        return len(arg.items)
    if isinstance(arg, ast.Name) and model is not None and (p := model.param(arg.id)) is not None:
        alpha = p.prior.args[0] if p.prior.args else None
        if isinstance(alpha, ast.VectorLit):
            return len(alpha.items)
    return None


def categorical(b: _Binder, dv: DataVar, family: Family) -> np.ndarray | None:
    """Unordered categories: whole numbers 1..K, or labels (text, a pandas Categorical) coded
    1..K in their sorted (or the Categorical's) order; K is fixed by the model's text."""
    lk = _likelihood(b, dv)
    k = categories_in_text(lk, b.m) if lk is not None else None
    series = b.df[dv.name]
    if isinstance(series.dtype, pd.CategoricalDtype):
        categories = list(series.cat.categories)
        codes = series.cat.codes.to_numpy().astype(np.int64) + 1
    elif ptypes.is_numeric_dtype(series.dtype) and not ptypes.is_bool_dtype(series.dtype):
        codes = outcome_values(b, dv, family, _SUPPORT_HINTS["categorical"])
        if codes is None:
            return None
        categories = list(range(1, (k or int(codes.max())) + 1))
    else:
        categories = sorted({str(v) for v in series.tolist()})
        lookup = {c: n for n, c in enumerate(categories, start=1)}
        codes = np.array([lookup[str(v)] for v in series.tolist()], dtype=np.int64)
    if k is not None and (len(categories) > k or int(codes.max()) > k):
        bad = codes > k
        if bad.any():
            first = int(codes[np.flatnonzero(bad)[0]])
            value = categories[first - 1] if first <= len(categories) else first
            shown = f"the value {value} ({rows_text(b.rows[bad])})"
        else:  # a Categorical dtype with more categories than the model has scores
            shown = f"{len(categories)} categories ({', '.join(map(str, categories[:8]))})"
        b.diags.append(
            error(
                "E402",
                f"`{dv.name}` has {shown}, but the model's Categorical has {k}",
                dv.span,
                "give one score (or probability, or Dirichlet concentration) per category",
            )
        )
        return None
    if len(categories) < 2:
        b.diags.append(
            error("E402", f"`{dv.name}` has a single category, but a Categorical outcome needs two or more", dv.span)
        )
        return None
    b.categories[dv.name] = categories
    return codes


def censoring(b: _Binder, dv: DataVar) -> np.ndarray | None:
    """The -1/0/1 censoring indicator, computed from the expression written in `censored(...)`."""
    assert dv.derived is not None
    values = b.evaluate_rows(dv.derived, b.m.row_letter)
    if values is None:
        return None
    bad = ~np.isin(values, (-1.0, 0.0, 1.0))
    if bad.any():
        distinct = list(dict.fromkeys(show(v) for v in values[bad]))
        b.diags.append(
            error(
                "E409",
                f"the censoring `{ast.to_text(dv.derived)}` of `{dv.name}` is "
                f"{', '.join(distinct[:MAX_ROWS_SHOWN])} ({rows_text(b.rows[bad])}), but must be "
                "-1 (left-censored), 0 (observed) or 1 (right-censored)",
                dv.span,
                "for a 0/1 column `event` that marks observed rows, write `censored(1 - event[i])`",
            )
        )
        return None
    return values.astype(np.int64)


def bound(b: _Binder, dv: DataVar) -> np.ndarray | None:
    """A truncation bound per row (`T[L[i], U[i]]`): finite numbers, whole for a count outcome.
    Its order against the other bound and the outcome inside it are checked with the outcome."""
    values = b.value_of(dv.name)
    if values is None:
        return None
    values = b.finite(dv.name, values)
    if values is None or not dv.integer:
        return values
    return whole_numbers(b, values, dv, f"`{dv.name}`", "the truncation bound of a count outcome")


def truncation_bounds(b: _Binder, lk: Likelihood) -> tuple[np.ndarray, np.ndarray] | None:
    """Each row's (lower, upper) bound: numbers, or a column's values (None: reported elsewhere)."""
    out = []
    for number, column, default in ((lk.lower, lk.lower_column, -np.inf), (lk.upper, lk.upper_column, np.inf)):
        if column is not None:
            values = b.value_of(column)
            if values is None or not np.isfinite(values).all():
                return None  # missing, text or infinite: E401/E404/E408 on the column
            out.append(np.asarray(values, dtype=float))
        else:
            out.append(np.full(len(b.rows), float(number) if number is not None else default))
    return out[0], out[1]


def within_truncation(b: _Binder, dv: DataVar, values: np.ndarray) -> bool:
    lk = _likelihood(b, dv)
    if lk is None or not lk.truncated:
        return True
    got = truncation_bounds(b, lk)
    if got is None:
        return True
    lower, upper = got
    columns = [c for c in (lk.lower_column, lk.upper_column) if c is not None]
    if columns:
        reversed_ = lower >= upper
        if reversed_.any():
            first = int(np.flatnonzero(reversed_)[0])
            shown = " and ".join(
                f"`{column}` = {show(value[first])}" if column is not None else show(value[first])
                for column, value in ((lk.lower_column, lower), (lk.upper_column, upper))
            )
            b.diags.append(
                error(
                    "E410",
                    f"the truncation {lk.truncation_text} of `{dv.name}` has its lower bound at or above "
                    f"its upper bound in {rows_text(b.rows[reversed_])} (e.g. {shown})",
                    dv.span,
                    f"each row needs lower < upper: check {' and '.join(f'`{c}`' for c in columns)}",
                )
            )
            return False
    outside = (values < lower) | (values > upper)
    if not outside.any():
        return True
    distinct = list(dict.fromkeys(show(v) for v in values[outside]))
    where = ""
    if columns:
        first = int(np.flatnonzero(outside)[0])
        where = f"; row {b.rows[first]} has bounds [{show(lower[first])}, {show(upper[first])}] from " + (
            " and ".join(f"`{c}`" for c in columns)
        )
    b.diags.append(
        error(
            "E410",
            f"`{dv.name}` has {', '.join(distinct[:MAX_ROWS_SHOWN])} ({rows_text(b.rows[outside])}) "
            f"outside its truncation {lk.truncation_text}{where}",
            dv.span,
            "a truncated outcome lies within its bounds: widen them, or drop those rows",
        )
    )
    return False


def ordinal(b: _Binder, dv: DataVar, family: Family) -> np.ndarray | None:
    """Ordered categories: a pandas Categorical (its categories, in their order, are 1..K)
    or whole numbers 1..K (K the largest seen)."""
    series = b.df[dv.name]
    if isinstance(series.dtype, pd.CategoricalDtype):
        categories = list(series.cat.categories)
        codes = series.cat.codes.to_numpy().astype(np.int64) + 1
    else:
        codes = outcome_values(b, dv, family, _ORDINAL_HINT)
        if codes is None:
            return None
        categories = list(range(1, int(codes.max()) + 1))
        empty = sorted(set(categories) - set(codes.tolist()))
        if empty and len(categories) >= 2:
            listed = ", ".join(str(k) for k in empty)
            b.diags.append(
                warning(
                    "W506",
                    f"`{dv.name}` has no row in categor{'y' if len(empty) == 1 else 'ies'} {listed} "
                    f"of 1..{len(categories)}: the model still counts {len(categories)} categories, "
                    f"so the cutpoints around {'it' if len(empty) == 1 else 'them'} come from the "
                    "prior alone",
                    dv.span,
                    "if the category does not exist, recode the categories 1..K without gaps",
                )
            )
    if len(categories) < 2:
        b.diags.append(
            error(
                "E402",
                f"`{dv.name}` has a single category, but {family.name} needs two or more",
                dv.span,
            )
        )
        return None
    b.categories[dv.name] = categories
    return codes


def outcome_values(b: _Binder, dv: DataVar, family: Family, hint: str | None = None
) -> np.ndarray | None:
    needs = _NEEDS.get(family.support, "numbers")
    dtype = b.df[dv.name].dtype
    if not family.discrete and (ptypes.is_bool_dtype(dtype) or ptypes.is_complex_dtype(dtype)):
        what = "true/false values" if ptypes.is_bool_dtype(dtype) else "complex numbers"
        b.diags.append(
            error(
                "E404",
                f"`{dv.name}` holds {what}, but {family.name} needs {needs}",
                dv.span,
                "a true/false outcome is `Bernoulli(p)`; otherwise recode the column as real numbers"
                if ptypes.is_bool_dtype(dtype)
                else "keep the real part (or the modulus) in a column of its own",
            )
        )
        return None
    values = b.numeric(dv.name, hint or f"{family.name} needs {needs}")
    if values is None:
        return None
    ok = True
    if family.discrete:
        fraction = ~np.isfinite(values) | (values != np.round(values))
        if fraction.any():
            rows = rows_text(b.rows[fraction])
            example = show(values[np.flatnonzero(fraction)[0]])
            message = (
                f"`{dv.name}` has non-integer values ({rows}; e.g. {example}) "
                f"but {family.name} needs {needs}"
            )
            b.diags.append(error("E405", message, dv.span))
            ok = False
        outside = ~fraction & _outside_support(values, family)
    else:
        outside = _outside_support(values, family)
    if outside.any():
        b.diags.append(out_of_support(b, dv, values, outside, needs, family))
        ok = False
    if ok and family.support == "trials":
        ok = within_trials(b, dv, values)
    if not ok:
        return None
    return values.astype(np.int64) if family.discrete else values


def out_of_support(b: _Binder, dv: DataVar,
    values: np.ndarray,
    bad: np.ndarray,
    needs: str,
    family: Family | None = None,
) -> Diagnostic:
    distinct = list(dict.fromkeys(show(v) for v in values[bad]))
    shown = (
        f"the value {distinct[0]}"
        if len(distinct) == 1
        else "values " + ", ".join(distinct[:MAX_ROWS_SHOWN])
    )
    who = f" but {family.name} needs {needs}" if family else f" but it must be {needs}"
    hint = _SUPPORT_HINTS.get(family.support) if family else None
    return error(
        "E402",
        f"`{dv.name}` has {shown} ({rows_text(b.rows[bad])}){who}",
        dv.span,
        hint,
    )


def within_trials(b: _Binder, dv: DataVar, successes: np.ndarray) -> bool:
    likelihood = _likelihood(b, dv)
    if likelihood is None or not likelihood.args:
        return True
    # The argument of kind "trials": n in Binomial(n, p), ZIBinomial(zi, n, p), BetaBinomial(n, ...)
    kinds = [kind for _, kind in likelihood.family.args]
    n_expr = likelihood.args[kinds.index("trials") if "trials" in kinds else 0]
    trials = b.evaluate_rows(
        n_expr, b.m.statement_letters.get(id(likelihood.stmt), b.m.row_letter)
    )
    if trials is None or not _counts(trials).all():
        return True  # a problem with the trials column is reported on its own
    over = successes > trials
    if not over.any():
        return True
    first = int(np.flatnonzero(over)[0])
    example = f"{show(successes[first])} > {show(trials[first])}"
    if over.sum() > 1:
        example = f"row {b.rows[first]}: {example}"
    b.diags.append(
        error(
            "E402",
            f"`{dv.name}` exceeds the number of trials `{ast.to_text(n_expr)}` in "
            f"{rows_text(b.rows[over])} ({example})",
            dv.span,
            f"{likelihood.family.name} counts successes out of n trials: 0 <= outcome <= n",
        )
    )
    return False


def trials(b: _Binder, dv: DataVar) -> np.ndarray | None:
    values = b.numeric(dv.name, "the number of trials must be a count: 0, 1, 2, ...")
    if values is None:
        return None
    counts = whole_numbers(b, values, dv, f"`{dv.name}`", "the number of trials")
    negative = values < 0
    if negative.any():
        b.diags.append(out_of_support(b, dv, values, negative, "a count: 0, 1, 2, ..."))
        return None
    return counts


def whole_numbers(b: _Binder, values: np.ndarray, dv: DataVar, what: str, role: str
) -> np.ndarray | None:
    bad = ~np.isfinite(values) | (values != np.round(values))
    if not bad.any():
        return values.astype(np.int64)
    first = int(np.flatnonzero(bad)[0])
    b.diags.append(
        error(
            "E405",
            f"{what} has non-integer values ({rows_text(b.rows[bad])}; "
            f"e.g. {show(values[first])}) but is used as {role}",
            dv.span,
        )
    )
    return None


def _outside_support(values: np.ndarray, family: Family) -> np.ndarray:
    finite = np.isfinite(values)
    match family.support:
        case "positive":
            return ~(finite & (values > 0))
        case "nonnegative":
            return ~(finite & (values >= 0))
        case "unit":
            return ~(finite & (values > 0) & (values < 1))
        case "binary":
            return ~np.isin(values, (0.0, 1.0))
        case "count" | "trials":
            return ~finite | (values < 0)
        case "ordinal" | "categorical":
            return ~finite | (values < 1)
    return ~finite


def _counts(values: np.ndarray) -> np.ndarray:
    return np.isfinite(values) & (values >= 0) & (values == np.round(values))


