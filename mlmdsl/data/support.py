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
from mlmdsl.compiler.ir import DataVar
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
}


_SUPPORT_HINTS: dict[str, str] = {
    "unit": "move values at 0 or 1 inside the interval, e.g. (y * (N - 1) + 0.5) / N",
    "binary": "recode the outcome as 0 and 1",
    "ordinal": "categories start at 1; add 1 if they are coded from 0",
}


def outcome(b: _Binder, dv: DataVar) -> np.ndarray | None:
    family = dv.family
    assert family is not None
    if family.support == "ordinal":
        return ordinal(b, dv, family)
    return outcome_values(b, dv, family)


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
    likelihood = next((lk for lk in b.m.likelihoods if lk.outcome == dv.name), None)
    if likelihood is None or not likelihood.args:
        return True
    n_expr = likelihood.args[0]
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
            "Binomial(n, p) counts successes out of n trials: 0 <= outcome <= n",
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


