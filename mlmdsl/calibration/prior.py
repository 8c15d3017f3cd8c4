"""Prior predictive simulation: parameters from their priors, outcomes on the data's design.

brms's `sample_prior = "only"` + `pp_check`, by direct simulation (no MCMC): see simulate.py for
the order things are drawn in and how constraints are honoured. The results are an ArviZ
InferenceData with `prior` and `prior_predictive` groups labelled exactly as a fit's `posterior`
and `posterior_predictive` are (the same dims and level labels), plus `observed_data` when the
table has the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlmdsl.backends.base import RawFit, SampleConfig
from mlmdsl.calibration.simulate import PriorError, Simulator
from mlmdsl.compiler.ir import CheckedModel
from mlmdsl.data import BoundData, read_table

if TYPE_CHECKING:
    from mlmdsl.api import Model
    from mlmdsl.posterior.fit import Fit

__all__ = ["PriorError", "PriorPredictive", "design", "prior_predictive", "simulate_draws"]

# A value every family of that support accepts: binding needs the outcome column to exist, but
# simulating from the prior never reads it.
_PLACEHOLDER = {"real": 0.0, "positive": 1.0, "unit": 0.5, "binary": 0, "count": 0, "trials": 0, "nonnegative": 0.0}


def design(model: Model, data: pd.DataFrame | str | Path) -> tuple[pd.DataFrame, BoundData, list[str]]:
    """The table, its binding, and the outcomes it lacks (filled with placeholders to bind)."""
    from mlmdsl.compiler.diagnostics import CompileError

    try:
        table = read_table(data)
    except Exception as exc:  # DataError: re-raised with the model's file for rendering
        from mlmdsl.data import DataError

        if isinstance(exc, DataError):
            raise CompileError(exc.diagnostics, model.source, model._compiled.filename) from None
        raise
    checked = model.checked
    missing = [lk.outcome for lk in checked.likelihoods if lk.outcome not in table.columns]
    if missing:
        table = table.copy()
        for lk in checked.likelihoods:
            if lk.outcome not in missing:
                continue
            if lk.family.support not in _PLACEHOLDER:
                raise PriorError(
                    f"the data has no column `{lk.outcome}`; a {lk.family.name} outcome's categories "
                    "come from the data, so the column is needed to simulate it"
                )
            value = _PLACEHOLDER[lk.family.support]
            if lk.lower is not None:  # a truncated outcome's placeholder lies within its bounds
                value = max(value, float(lk.lower))
            if lk.upper is not None:
                value = min(value, float(lk.upper))
            if lk.lower_column is not None:  # bounds per row (T[L[i], U[i]]): each row's own
                value = np.maximum(value, table[lk.lower_column].to_numpy(dtype=float))
            if lk.upper_column is not None:
                value = np.minimum(value, table[lk.upper_column].to_numpy(dtype=float))
            table[lk.outcome] = value
    return table, model.bind(table), missing


def simulate_draws(
    checked: CheckedModel, bound: BoundData, draws: int, seed: int | np.random.SeedSequence | None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(quantity -> prior draws, outcome -> simulated outcomes (draws, N))."""
    sim = Simulator(checked, bound, draws, np.random.default_rng(seed))
    sim.everything()
    outcomes = {lk.outcome: sim.outcome(lk) for lk in checked.likelihoods}
    return dict(sim.values), outcomes


@dataclass
class PriorPredictive:
    """Draws from the prior (`idata.prior`) and the outcomes they imply (`idata.prior_predictive`)."""

    idata: Any  # ArviZ InferenceData (0.x) or DataTree (1.x)
    outcomes: tuple[str, ...]
    discrete: dict[str, bool]

    def draws(self, name: str) -> np.ndarray:
        """(draws, ...) prior draws of a parameter, or simulated outcomes of an outcome."""
        from mlmdsl.posterior import arviz_compat

        group = arviz_compat.dataset(self.idata, "prior_predictive" if name in self.outcomes else "prior")
        values = np.asarray(group[name].values)
        return values.reshape(-1, *values.shape[2:])

    def plot(self, outcome: str | None = None, **kwargs: Any) -> Any:
        """The prior predictive density (bars for discrete outcomes) against the observed one."""
        from mlmdsl.calibration.plots import prior_predictive_figure

        name = outcome or self.outcomes[0]
        from mlmdsl.posterior import arviz_compat

        observed = None
        if arviz_compat.has_group(self.idata, "observed_data"):
            data = arviz_compat.dataset(self.idata, "observed_data")
            if name in data:
                observed = np.asarray(data[name].values, dtype=float)
        return prior_predictive_figure(name, self.draws(name).astype(float), observed, self.discrete[name], **kwargs)

    def save(self, path: str | Path) -> Path:
        """Write the InferenceData as NetCDF."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.idata.to_netcdf(str(path))
        return path


def prior_predictive(
    model: Model, data: pd.DataFrame | str | Path, draws: int = 1000, seed: int | None = None
) -> PriorPredictive:
    """Simulate `draws` parameter sets from the priors and one outcome data set from each."""
    from mlmdsl.posterior.fit import Fit

    model, data = model._for_table(data)  # compiled against the table's columns (modelled columns)
    table, bound, missing = design(model, data)
    checked = model.checked
    values, outcomes = simulate_draws(checked, bound, draws, seed)
    schema = model.schema_for(bound)
    raw_draws: dict[str, np.ndarray] = {}
    for var in schema.variables:
        if var.role == "log_lik":
            continue
        if var.role == "predictive":
            raw_draws[var.stan_name] = outcomes[var.name][None]
            continue
        value = values.get(var.name)
        if value is None:
            continue
        if var.role == "imputed":  # the column's draws in its missing cells only
            c = checked.modelled_named(var.name)
            assert c is not None
            value = value[:, np.asarray(bound.stan_data[c.missing_rows], dtype=np.int64) - 1]
        shaped = value.reshape(draws, *value.shape[1:])
        if not var.dims:
            shaped = shaped.reshape(draws)
        raw_draws[var.stan_name] = shaped[None]
    config = SampleConfig(chains=1, iter_warmup=0, iter_sampling=draws, seed=seed)
    observed = {k: v for k, v in bound.observed.items() if k not in missing}
    raw = RawFit(draws=raw_draws, sampler_stats={}, backend="prior", config=config)
    fit = Fit.from_raw(raw, schema, observed, model_name=model.name, model_source=model.source, data=table)
    discrete = {lk.outcome: lk.family.discrete for lk in checked.likelihoods}
    # A modelled column is simulated as a quantity of the prior (its missing cells), not an outcome.
    simulated = tuple(o for o in outcomes if checked.modelled_named(o) is None)
    return PriorPredictive(_as_prior(fit), simulated, discrete)


def _as_prior(fit: Fit) -> Any:
    """The fit's groups renamed as ArviZ names prior simulations (InferenceData or DataTree)."""
    from mlmdsl.posterior import arviz_compat

    idata = fit.idata
    groups = {"prior": arviz_compat.dataset(idata, "posterior")}
    for name in ("posterior_predictive", "observed_data"):
        if arviz_compat.has_group(idata, name):
            groups["prior_predictive" if name == "posterior_predictive" else name] = arviz_compat.dataset(idata, name)
    for ds in groups.values():
        ds.attrs.update({"inference_library": "mlmdsl", "sampling": "prior simulation (no MCMC)"})
    return arviz_compat.inference_data(groups)


def replace_outcomes(
    table: pd.DataFrame, checked: CheckedModel, bound: BoundData, outcomes: dict[str, np.ndarray]
) -> pd.DataFrame:
    """The table with each outcome column replaced by one simulated data set (N,)."""
    out = table.copy()
    for lk in checked.likelihoods:
        y = np.asarray(outcomes[lk.outcome])
        ordinal = checked.ordinal(lk.outcome)
        if ordinal is not None:
            # Categories 1..K kept even when a simulated data set misses some (K comes from data).
            k = int(bound.stan_data[ordinal.stan_k])
            out[lk.outcome] = pd.Categorical(y.astype(np.int64), categories=list(range(1, k + 1)), ordered=True)
        elif lk.family.discrete:
            out[lk.outcome] = y.astype(np.int64)
        else:
            out[lk.outcome] = y
    return out

