"""Cells of identical rows, and their sufficient statistics, from the bound data.

The binder's half of the likelihood over cells (mlmdsl/compiler/lower/cells.py says what the
Stan program does with them). A cell is the set of rows sharing every row-level value the
program reads other than the outcome (and a Binomial's trials, which are summed). The cells are
worth it when they are clearly fewer than the rows; otherwise the likelihood stays per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlmdsl.compiler.ir import CheckedModel
from mlmdsl.compiler.lower.cells import (
    CELL_KINDS,
    CellLinear,
    cell_exposure,
    cell_key_vars,
    cell_kind,
    cell_linear,
    cell_names,
)

if TYPE_CHECKING:
    from mlmdsl.data.bind import BoundData

# Cells are used when there are at most this fraction of the rows: below it the likelihood's cost
# falls in proportion; near 1 the copies and the extra data are not worth it.
WORTH_IT_BELOW = 0.8


@dataclass(frozen=True)
class Cells:
    kind: str  # binomial, poisson, normal, ordinal (compiler.lower.cells.CELL_KINDS)
    n_rows: int
    n_cells: int
    row_cell: np.ndarray  # each row's cell, 0-based
    stan_data: dict[str, int | np.ndarray]  # the cells' entries of the Stan data

    @property
    def summary(self) -> str:
        return f"likelihood over {self.n_cells:,} cells of {self.n_rows:,} rows"


def find_cells(model: CheckedModel, bound: BoundData, *, worth_it_below: float = WORTH_IT_BELOW) -> Cells | None:
    """The cells of `bound`'s rows, or None when the model's likelihood cannot use them or they
    are not clearly fewer than the rows."""
    kind = cell_kind(model)
    if kind is None:
        return None
    cells = cells_of(model, bound.stan_data)
    if cells.n_cells > worth_it_below * cells.n_rows:
        return None
    return cells


def cells_of(model: CheckedModel, data: dict) -> Cells:
    """The cells and their statistics, whether or not they are worth it."""
    kind = cell_kind(model)
    assert kind is not None
    names = cell_names(model)
    n_rows = int(data["N"])
    keys = [np.asarray(data[dv.stan], dtype=float) for dv in cell_key_vars(model)]
    if keys:
        _, first, inverse = np.unique(np.column_stack(keys), axis=0, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
    else:  # nothing varies by row: one cell
        first, inverse = np.zeros(1, dtype=int), np.zeros(n_rows, dtype=int)
    n_cells = len(first)
    lk = model.likelihoods[0]
    y_dv = model.data_var(lk.outcome)
    assert y_dv is not None and lk.family.name in CELL_KINDS
    y = np.asarray(data[y_dv.stan])
    rows = np.bincount(inverse, minlength=n_cells)
    out: dict[str, int | np.ndarray] = {names.n: n_cells, names.row: first.astype(np.int64) + 1}
    if kind == "binomial":
        trials_dv = next((d for d in model.data if d.kind == "trials"), None)
        trials = np.asarray(data[trials_dv.stan]) if trials_dv is not None else np.ones(n_rows)
        out[names.y] = _int_sums(inverse, y, n_cells)
        out[names.trials] = _int_sums(inverse, trials, n_cells)
    elif kind == "poisson":
        out[names.y] = _int_sums(inverse, y, n_cells)
        out[names.count] = rows.astype(float)
        if (exposure := cell_exposure(model)) is not None:
            out[names.exposure] = _mean_exposure(inverse, np.asarray(data[exposure.column.stan], dtype=float),
                                                 rows, exposure.form == "logged")
    elif kind == "normal":
        y = y.astype(float)
        mean = np.bincount(inverse, weights=y, minlength=n_cells) / rows
        y_dev = y - mean[inverse]
        out[names.count] = rows.astype(float)
        out[names.mean] = mean
        out[names.ss] = np.bincount(inverse, weights=y_dev**2, minlength=n_cells)
        if (linear := cell_linear(model)) is not None:
            out.update(_linear_statistics(linear, data, inverse, y_dev, rows))
    else:
        out.update(_ordinal_terms(names, inverse, y.astype(np.int64), int(data[_ordinal_k(model)]), n_cells))
        out[names.of_row] = inverse.astype(np.int64) + 1  # read by the generated quantities
    return Cells(kind, n_rows, n_cells, inverse, out)


def _linear_statistics(
    linear: CellLinear, data: dict, inverse: np.ndarray, y_dev: np.ndarray, rows: np.ndarray
) -> dict[str, np.ndarray]:
    """Per cell, each linear column's mean and its sums of squares and products (with the
    outcome and with each other column) about the cell means (compiler/lower/linear.py)."""
    n_cells = len(rows)
    out: dict[str, np.ndarray] = {}
    dev: dict[str, np.ndarray] = {}
    for dv in linear.form.columns:
        x = np.asarray(data[dv.stan], dtype=float)
        mean = np.bincount(inverse, weights=x, minlength=n_cells) / rows
        dev[dv.name] = x - mean[inverse]
        names = linear.columns[dv.name]
        out[names.mean] = mean
        out[names.ss] = np.bincount(inverse, weights=dev[dv.name] ** 2, minlength=n_cells)
        out[names.sp] = np.bincount(inverse, weights=dev[dv.name] * y_dev, minlength=n_cells)
    for (x, z), name in linear.cross.items():
        out[name] = np.bincount(inverse, weights=dev[x] * dev[z], minlength=n_cells)
    return out


def _ordinal_k(model: CheckedModel) -> str:
    o = model.ordinal(model.likelihoods[0].outcome)
    assert o is not None
    return o.stan_k


def _ordinal_terms(names, inverse: np.ndarray, y: np.ndarray, k: int, n_cells: int) -> dict[str, int | np.ndarray]:
    """The (cell, cutpoint) terms of an ordered outcome (compiler/lower/cells.py): a row in
    category y uses log_inv_logit(eta - c[y-1]) (y > 1) and log_inv_logit(eta - c[y]) - (eta - c[y])
    (y < K); per term, the rows using it; and the rows using a term the second way (its linear
    part), summed per cell and per cutpoint."""
    up, down = y > 1, y < k
    ids_up = inverse[up] * k + (y[up] - 1)  # a term's id: cell * K + cutpoint (1..K-1)
    ids_down = inverse[down] * k + y[down]
    terms, which = np.unique(np.concatenate([ids_up, ids_down]), return_inverse=True)
    which = which.reshape(-1)
    rows = np.bincount(which, minlength=len(terms))
    # Each row's two terms, for log_lik (len(terms) + 1 where the row has none: y = 1 or y = K).
    above = np.full(len(y), len(terms) + 1, dtype=np.int64)
    at_most = above.copy()
    above[up] = which[: len(ids_up)] + 1
    at_most[down] = which[len(ids_up) :] + 1
    return {
        names.row_above: above,
        names.row_at_most: at_most,
        names.n_terms: len(terms),
        names.term_cell: (terms // k).astype(np.int64) + 1,
        names.term_cut: (terms % k).astype(np.int64),
        names.term_rows: rows.astype(float),
        names.cell_at_most: np.bincount(inverse[down], minlength=n_cells).astype(float),
        names.cut_at_most: np.bincount(y[down] - 1, minlength=k - 1).astype(float),
    }


def _int_sums(inverse: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(inverse, weights=np.asarray(values, dtype=float), minlength=n).round().astype(np.int64)


def _mean_exposure(inverse: np.ndarray, x: np.ndarray, rows: np.ndarray, logged: bool) -> np.ndarray:
    """Per cell, the value whose exposure is the mean of its rows' exposures: mean(x), or for a
    logged offset log(mean(exp(x))), shifted by the cell's maximum so exp cannot overflow."""
    if not logged:
        return np.bincount(inverse, weights=x, minlength=len(rows)) / rows
    top = np.full(len(rows), -np.inf)
    np.maximum.at(top, inverse, x)
    return top + np.log(np.bincount(inverse, weights=np.exp(x - top[inverse]), minlength=len(rows)) / rows)
