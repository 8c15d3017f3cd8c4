"""brms-form tables of a fit's draws: the summary (one row per scalar element) and the long
("gathered") draws, both labelled the user's way (see mlmdsl.posterior.idata)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from mlmdsl.posterior import arviz_compat

if TYPE_CHECKING:
    from mlmdsl.posterior.fit import Fit

__all__ = ["ci_columns", "convergence", "draws_frame", "summary_table"]

DrawsGroup = Literal["posterior", "posterior_predictive", "log_likelihood"]
_LONG_FIXED = ("chain", "draw", ".draw", "parameter", "value")


def ci_columns(prob: float) -> tuple[str, str]:
    pct = f"{100 * prob:g}"
    return f"l-{pct}% CI", f"u-{pct}% CI"


def convergence(posterior: xr.Dataset) -> dict[str, xr.Dataset]:
    """R-hat and the two ESS for every variable: the slow part of a summary, done once."""
    return {
        "Rhat": arviz_compat.rhat(posterior),
        "Bulk_ESS": arviz_compat.ess(posterior, "bulk"),
        "Tail_ESS": arviz_compat.ess(posterior, "tail"),
    }


def summary_table(
    fit: Fit, prob: float, roles: Iterable[str] | None, variables: Iterable[str] | None
) -> pd.DataFrame:
    if not 0 < prob < 1:
        raise ValueError(f"prob must be between 0 and 1, got {prob}")
    lower, upper = ci_columns(prob)
    frames = [_summary_of(fit, var.name, prob, lower, upper) for var in fit.posterior_vars(roles, variables)]
    if not frames:
        columns = ["Estimate", "Est.Error", lower, upper, "Rhat", "Bulk_ESS", "Tail_ESS"]
        return pd.DataFrame(columns=columns)
    return pd.concat(frames)


def _summary_of(fit: Fit, name: str, prob: float, lower: str, upper: str) -> pd.DataFrame:
    da = fit.idata.posterior[name]
    flat = np.asarray(da.values, dtype=float).reshape(da.shape[0] * da.shape[1], -1)
    tails = np.quantile(flat, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    constant = np.ptp(flat, axis=0) == 0
    conv = {
        col: np.where(constant, np.nan, np.asarray(ds[name].values, dtype=float).reshape(-1))
        for col, ds in fit._convergence.items()
    }
    return pd.DataFrame(
        {
            "Estimate": flat.mean(axis=0),
            "Est.Error": flat.std(axis=0, ddof=1) if flat.shape[0] > 1 else np.nan,
            lower: tails[0],
            upper: tails[1],
            "Rhat": conv["Rhat"],
            "Bulk_ESS": _as_int(conv["Bulk_ESS"]),
            "Tail_ESS": _as_int(conv["Tail_ESS"]),
        },
        index=[label for _, label in fit.elements(name)],
    )


def _as_int(values: np.ndarray) -> pd.api.extensions.ExtensionArray:
    # ESS is reported as a whole number (brms does too); NaN must survive as <NA>.
    rounded = np.round(values)
    return pd.array([None if np.isnan(v) else int(v) for v in rounded], dtype="Int64")


def draws_frame(fit: Fit, variables: Iterable[str] | None, group: DrawsGroup) -> pd.DataFrame:
    """Long draws of one group: chain, draw, .draw, parameter, one column per dim, value."""
    available = arviz_compat.group_names(fit.idata)
    if group not in available:
        raise KeyError(f"this fit has no {group} group; it has {available}")
    dataset = arviz_compat.dataset(fit.idata, group)
    names = _draws_names(fit, dataset, variables, group)
    pieces = [_long_frame(name, dataset[name]) for name in names]
    if not pieces:
        return pd.DataFrame(columns=["chain", "draw", ".draw", "parameter", "value"])
    dim_cols: list[str] = []
    for piece in pieces:
        dim_cols += [c for c in piece.columns if c not in _LONG_FIXED and c not in dim_cols]
    frame = pd.concat(pieces, ignore_index=True)
    for col in dim_cols:
        if frame[col].isna().any():
            frame[col] = frame[col].convert_dtypes()
    return frame[["chain", "draw", ".draw", "parameter", *dim_cols, "value"]]


def _draws_names(fit: Fit, dataset: xr.Dataset, variables: Iterable[str] | None, group: str) -> list[str]:
    if group == "posterior":
        return [v.name for v in fit.posterior_vars(variables=variables)]
    present = list(dataset.data_vars)
    if variables is None:
        return present
    wanted = list(variables)
    unknown = [w for w in wanted if w not in present]
    if unknown:
        raise KeyError(f"no such variable(s) {unknown} in {group}; available: {present}")
    return wanted


def _long_frame(name: str, da: xr.DataArray) -> pd.DataFrame:
    n_chains, n_draws = da.shape[:2]
    n_elements = int(np.prod(da.shape[2:], dtype=int))
    per_element = n_chains * n_draws
    # Element-major order, like tidybayes::gather_draws: all draws of alpha[6], then alpha[29].
    values = np.asarray(da.values).reshape(per_element, n_elements).T.reshape(-1)
    chain = np.tile(np.repeat(np.arange(n_chains), n_draws), n_elements)
    draw = np.tile(np.arange(n_draws), n_chains * n_elements)
    columns: dict[str, Any] = {
        "chain": chain,
        "draw": draw,
        ".draw": chain * n_draws + draw,
        "parameter": np.full(values.shape, name, dtype=object),
    }
    positions = np.unravel_index(np.arange(n_elements), da.shape[2:]) if da.ndim > 2 else ()
    for dim, pos in zip(da.dims[2:], positions, strict=True):
        labels = np.asarray(da.coords[dim].values)
        columns[dim] = np.repeat(labels[pos], per_element)
    columns["value"] = values
    return pd.DataFrame(columns)
