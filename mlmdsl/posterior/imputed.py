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


def merged_levels(
    series: pd.Series | None, levels: np.ndarray, imputed: np.ndarray, labels: list[Any], name: str, grouping: str
) -> np.ndarray:
    """A group-level modelled column at each row's level of `grouping`, for predictions: the
    table's value of the level (a blank row takes the value of its level's other rows, as when
    fitting), or the imputed draws (draws, levels labelled "id 17") of a level the fit imputed.
    `series` is None when the table has no such column (every level then needs its draws). A
    level with no value that the fit did not impute raises ValueError: it would need imputing."""
    n = len(levels)
    values = np.full(n, np.nan) if series is None else pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    keys = [f"{grouping} {level}" for level in levels]
    known: dict[str, float] = {}
    for key, v in zip(keys, values, strict=True):
        if not np.isnan(v):
            known.setdefault(key, v)
    filled = np.array([known.get(k, np.nan) for k in keys])
    missing = np.isnan(filled)
    if not missing.any():
        return filled
    where = {str(label): k for k, label in enumerate(labels)}
    unknown = list(dict.fromkeys(k for k, m in zip(keys, missing, strict=True) if m and k not in where))
    if unknown:
        raise ValueError(
            f"newdata has no value of `{name}` for {', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}, "
            f"which the fit did not impute; give `{name}` in at least one row of each such level (imputed "
            f"levels are predicted only for the levels fitted)"
        )
    out = np.broadcast_to(filled, (imputed.shape[0], n)).copy()
    out[:, missing] = imputed[:, [where[k] for k, m in zip(keys, missing, strict=True) if m]]
    return out
