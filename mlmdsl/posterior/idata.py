"""A backend's draws -> ArviZ data, named the user's way.

Conventions (every other posterior module relies on them):

* Variables are named as the user wrote them (`OutputVar.name`), never by their Stan name;
  Stan variables that the schema does not list (non-centred `z`, helpers) are internal and
  left out everywhere.
* Elements are labelled by the original labels of their dims (`alpha[6]`, `Rho[a,b]`), not by
  Stan's 1..K positions. A dim without coords in the schema falls back to 1..K.
* A variable indexed twice by the same dim (a correlation matrix over `effect`) gets its
  second axis named `effect_2`, because xarray needs distinct names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from mlmdsl.backends.base import RawFit
from mlmdsl.compiler.schema import OutputSchema, OutputVar
from mlmdsl.posterior import arviz_compat

__all__ = ["STAT_NAMES", "build_idata", "check_raw", "element_label", "group_of", "labels_for"]

# Stan's sampler_stats names -> ArviZ's, so ArviZ's energy plots, summaries etc. find them.
STAT_NAMES: dict[str, str] = {
    "lp__": "lp",
    "accept_stat__": "acceptance_rate",
    "stepsize__": "step_size",
    "treedepth__": "tree_depth",
    "n_leapfrog__": "n_steps",
    "divergent__": "diverging",
    "energy__": "energy",
}
_INT_STATS = ("tree_depth", "n_steps")

# Roles that live outside the posterior group, keyed to the ArviZ group that holds them.
GROUP_OF_ROLE: dict[str, str] = {
    "log_lik": "log_likelihood",
    "predictive": "posterior_predictive",
}
# Generated quantities a backend may be unable to produce (stanli drops some); a missing
# parameter, by contrast, is a compiler/backend bug and fails loudly.
_DROPPABLE_ROLES = frozenset({"log_lik", "predictive", "derived"})


def element_label(name: str, labels: Sequence[Any]) -> str:
    """`alpha` + (6,) -> `alpha[6]`; a scalar keeps its bare name."""
    if not labels:
        return name
    return f"{name}[{','.join(str(label) for label in labels)}]"


def group_of(var: OutputVar) -> str:
    return GROUP_OF_ROLE.get(var.role, "posterior")


def array_dims(var: OutputVar) -> tuple[str, ...]:
    """The var's dims with repeats made distinct (effect, effect -> effect, effect_2)."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for dim in var.dims:
        seen[dim] = seen.get(dim, 0) + 1
        out.append(dim if seen[dim] == 1 else f"{dim}_{seen[dim]}")
    return tuple(out)


def labels_for(schema: OutputSchema, dim: str, size: int, where: str) -> list[Any]:
    labels = schema.coords.get(dim)
    if labels is None:
        return list(range(1, size + 1))
    if len(labels) != size:
        raise ValueError(
            f"{where}: dim {dim!r} has {size} entries in the draws but the schema lists "
            f"{len(labels)} labels for it; the compiler's coords and the Stan program disagree"
        )
    return list(labels)


def check_raw(raw: RawFit, schema: OutputSchema) -> tuple[str, ...]:
    """Fail early on draws that do not match the schema; return generated quantities the
    backend did not produce (reported by warnings(), not fatal)."""
    dropped: list[str] = []
    seen: set[tuple[str, str]] = set()
    for var in schema.variables:
        if (group_of(var), var.name) in seen:
            raise ValueError(f"two schema variables are both called {var.name!r}")
        seen.add((group_of(var), var.name))
        values = raw.draws.get(var.stan_name)
        if values is None:
            if var.role in _DROPPABLE_ROLES:
                dropped.append(var.name)
                continue
            raise KeyError(
                f"the schema's {var.role} variable {var.name!r} (Stan name {var.stan_name!r}) "
                f"is not in the draws; the backend returned {sorted(raw.draws)}"
            )
        if values.ndim != 2 + len(var.dims):
            raise ValueError(
                f"{var.name!r}: draws have shape {values.shape} (chains, draws, ...) but the "
                f"schema gives it dims {var.dims}"
            )
        for dim, size in zip(var.dims, values.shape[2:], strict=True):
            labels_for(schema, dim, size, var.name)
    return tuple(dropped)


def build_idata(raw: RawFit, schema: OutputSchema, observed: dict[str, np.ndarray], model_name: str) -> Any:
    """posterior, sample_stats, log_likelihood, posterior_predictive, observed_data (groups
    without content are left out), in the installed ArviZ's container."""
    groups: dict[str, xr.Dataset] = {"posterior": _draws_dataset(raw, schema, "posterior")}
    for group in ("log_likelihood", "posterior_predictive"):
        ds = _draws_dataset(raw, schema, group)
        if ds.data_vars:
            groups[group] = ds
    stats = _sample_stats_dataset(raw)
    if stats.data_vars:
        groups["sample_stats"] = stats
    observed_ds = _observed_dataset(schema, observed)
    if observed_ds.data_vars:
        groups["observed_data"] = observed_ds
    attrs = {"inference_library": "mlmdsl", "model_name": model_name}
    for ds in groups.values():
        ds.attrs.update(attrs)
    return arviz_compat.inference_data(groups)


def _draws_dataset(raw: RawFit, schema: OutputSchema, group: str) -> xr.Dataset:
    data_vars: dict[str, xr.DataArray] = {}
    for var in schema.variables:
        if group_of(var) != group or var.stan_name not in raw.draws:
            continue
        data_vars[var.name] = _data_array(schema, var, raw.draws[var.stan_name])
    return xr.Dataset(data_vars)


def _data_array(schema: OutputSchema, var: OutputVar, values: np.ndarray) -> xr.DataArray:
    n_chains, n_draws = values.shape[:2]
    dims = array_dims(var)
    coords: dict[str, Any] = {"chain": np.arange(n_chains), "draw": np.arange(n_draws)}
    for dim, original, size in zip(dims, var.dims, values.shape[2:], strict=True):
        coords[dim] = labels_for(schema, original, size, var.name)
    return xr.DataArray(values, dims=("chain", "draw", *dims), coords=coords)


def _sample_stats_dataset(raw: RawFit) -> xr.Dataset:
    data_vars: dict[str, tuple[tuple[str, str], np.ndarray]] = {}
    for stan_name, values in raw.sampler_stats.items():
        name = STAT_NAMES.get(stan_name, stan_name.rstrip("_"))
        arr = np.asarray(values)
        if name == "diverging":
            arr = arr.astype(bool)
        elif name in _INT_STATS:
            arr = arr.astype(np.int64)
        data_vars[name] = (("chain", "draw"), arr)
    if not data_vars:
        return xr.Dataset()
    n_chains, n_draws = next(iter(data_vars.values()))[1].shape
    coords = {"chain": np.arange(n_chains), "draw": np.arange(n_draws)}
    return xr.Dataset(data_vars, coords=coords)


def _observed_dataset(schema: OutputSchema, observed: dict[str, np.ndarray]) -> xr.Dataset:
    data_vars: dict[str, xr.DataArray] = {}
    for name, arr in observed.items():
        dims = ("obs", *(f"{name}_dim_{k}" for k in range(1, arr.ndim)))
        coords = {"obs": labels_for(schema, "obs", arr.shape[0], name)}
        data_vars[name] = xr.DataArray(arr, dims=dims, coords=coords)
    return xr.Dataset(data_vars)
