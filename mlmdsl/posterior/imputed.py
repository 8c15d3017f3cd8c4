"""Imputed cells of modelled columns in the results: a variable of size zero (no missing cell)
that a backend leaves out of its draws is restored as an empty array, so summaries and ArviZ
data have it with its (empty) labelled dim; predictions read a modelled column with its imputed
draws in the cells the fit imputed (they are parameters, like any other)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from mlmdsl.backends.base import RawFit
from mlmdsl.compiler.schema import OutputSchema


def with_empty_variables(raw: RawFit, schema: OutputSchema) -> RawFit:
    missing = [
        v
        for v in schema.variables
        if v.stan_name not in raw.draws and v.dims and any(len(schema.coords.get(d, [None])) == 0 for d in v.dims)
    ]
    if not missing or not raw.draws:
        return raw
    lead = next(iter(raw.draws.values())).shape[:2]
    draws = dict(raw.draws)
    for v in missing:
        draws[v.stan_name] = np.empty((*lead, *(len(schema.coords.get(d, [])) for d in v.dims)))
    return dataclasses.replace(raw, draws=draws)


def merged_column(series: pd.Series, imputed: np.ndarray, labels: list[Any], name: str) -> np.ndarray:
    """A modelled column per draw for predictions: the table's values where it has them, the
    imputed draws (draws, cells labelled "row 7") in the cells the fit imputed. A missing cell
    the fit did not impute (a new row) raises ValueError: it would need imputing anew."""
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    missing = np.isnan(values)
    if not missing.any():
        return values
    where = {str(label): k for k, label in enumerate(labels)}
    rows = [f"row {label}" for label in series.index[missing]]
    unknown = [r for r in rows if r not in where]
    if unknown:
        raise ValueError(
            f"newdata column `{name}` is missing in {', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}, "
            "which the fit did not impute; give values there (imputed cells are predicted only for "
            "the rows fitted)"
        )
    out = np.broadcast_to(values, (imputed.shape[0], values.size)).copy()
    out[:, missing] = imputed[:, [where[r] for r in rows]]
    return out
