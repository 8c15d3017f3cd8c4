"""SBC's simulated data sets for censored outcomes: type-I censoring at the design's points.

A censored likelihood's rows say "y or more" (c = 1) or "y or less" (c = -1) at a value y. SBC
must simulate data from the process the program's likelihood describes, so an outcome drawn
without censoring cannot simply be written in with the design's codes: the fit would then read a
draw as a bound and SBC would flag a correct program. Instead each censored row of the design
keeps its value as a fixed *censoring point* t, and the simulated outcome y* is censored there:

* a right-censored row (c = 1): y* >= t is seen as "t or more" (c = 1, y = t), else y* (c = 0);
* a left-censored row (c = -1): y* <= t is seen as "t or less" (c = -1, y = t), else y* (c = 0);
* an observed row (c = 0) has no censoring point: y*, observed.

The censoring points are fixed covariates, independent of the outcome (non-informative
censoring), so the program's likelihood is that process's likelihood and SBC's ranks are uniform
when the program is right. The new codes go back into the column that `censored(...)` reads:
the expression must be that column or an affine function of it (`censored(c[i])`,
`censored(1 - adopted[i])`), which is inverted per row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlmdsl.calibration.simulate import PriorError
from mlmdsl.compiler import ast
from mlmdsl.compiler.evaluate import evaluate
from mlmdsl.compiler.ir import CheckedModel, DataVar, Likelihood
from mlmdsl.data import BoundData

__all__ = ["CensoringError", "censor", "check_censoring"]


class CensoringError(PriorError):
    """A censored outcome SBC cannot simulate (its censoring is not an affine function of one
    column, or the data lacks the censoring points)."""


def _censoring_var(checked: CheckedModel, lk: Likelihood) -> DataVar:
    return next(dv for dv in checked.data if dv.kind == "censoring" and dv.stan == lk.censoring)


def _affine_column(checked: CheckedModel, lk: Likelihood) -> tuple[str, float, float]:
    """(column, f(0), slope) of the censoring expression f(column), or a CensoringError."""
    expr = _censoring_var(checked, lk).derived
    assert expr is not None
    columns = {
        node.base.id for node in ast.walk(expr) if isinstance(node, ast.Index) and isinstance(node.base, ast.Name)
    }
    text = ast.to_text(expr)
    if len(columns) == 1:
        (column,) = columns
        at = [float(np.asarray(evaluate(expr, {column: np.array([v])}, checked.row_letter)).ravel()[0])
              for v in (0.0, 1.0, 2.0)]
        slope = at[1] - at[0]
        others = [dv for dv in checked.data if dv.name == column and dv.kind != "censoring" and dv.in_stan]
        if slope != 0 and np.isclose(at[2] - at[1], slope) and not others:
            return column, at[0], slope
    raise CensoringError(
        f"SBC of the censored outcome `{lk.outcome}` simulates which rows are censored and writes the codes back "
        f"into the column `censored(...)` reads; `censored({text})` must be one column or an affine function of "
        "one (`censored(c[i])`, `censored(1 - event[i])`) that the model reads for nothing else"
    )


def check_censoring(checked: CheckedModel, missing: list[str]) -> None:
    """Fail once, before any replication, when SBC cannot simulate a censored outcome."""
    for lk in checked.likelihoods:
        if lk.censoring is None:
            continue
        _affine_column(checked, lk)
        if lk.outcome in missing:
            raise CensoringError(
                f"SBC of the censored outcome `{lk.outcome}` needs its column: the values of its censored rows "
                "are the points the simulated outcomes are censored at"
            )


def censor(
    checked: CheckedModel, bound: BoundData, table: pd.DataFrame, outcomes: dict[str, np.ndarray]
) -> tuple[pd.DataFrame, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(the table with each censored outcome's censoring column rewritten, the outcomes as seen
    after censoring, the new -1/0/1 codes per censored outcome)."""
    out = table.copy()
    seen = dict(outcomes)
    codes: dict[str, np.ndarray] = {}
    for lk in checked.likelihoods:
        if lk.censoring is None:
            continue
        column, at_zero, slope = _affine_column(checked, lk)
        design = np.asarray(bound.stan_data[lk.censoring])
        points = np.asarray(bound.observed[lk.outcome], dtype=float)
        y = np.asarray(outcomes[lk.outcome], dtype=float)
        right = (design == 1) & (y >= points)
        left = (design == -1) & (y <= points)
        new = np.where(right, 1, np.where(left, -1, 0)).astype(np.int64)
        seen[lk.outcome] = np.where(right | left, points, y)
        values = (new - at_zero) / slope
        whole = np.allclose(values, np.round(values))
        out[column] = np.round(values).astype(np.int64) if whole else values
        codes[lk.outcome] = new
    return out, seen, codes
