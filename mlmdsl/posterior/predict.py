"""Predictions from a fitted model's own statements, for new rows of data.

`fit.predict(newdata, kind=..., groups=...)` re-evaluates the model's row-level derived
quantities (`logit(p[i]) = a[actor[i]] + ...`) for every posterior draw with the numpy
evaluator, then applies the likelihood's family:

* kind="linpred": the linear predictor before the inverse link (the right side of
  `logit(p[i]) = ...`); kind="epred": the mean of the outcome (p, n * p, exp(mu + s^2/2), ...,
  per-category probabilities for OrderedLogistic); kind="response": one draw of the outcome.
* groups="existing": each row uses its group's estimate; an unseen label is an error.
  groups="average": varying effects sit at their population location (the prior's location
  expression per draw: `abar`, `0`, `b0 + b1 * z[j]`), like brms's `re_formula = NA`.
  groups="new": labels the fit has seen keep their estimates, unseen labels are new groups drawn
  from the fitted population once per label and draw (brms's `allow_new_levels`). A dict such
  as {"actor": "new", "block": "average"} picks a mode per grouping ("existing" elsewhere).

The work is split by job: mlmdsl.posterior.evaluation (the statements for new rows, up to the
linear predictor), group_levels (existing, average and new group levels), outcomes (each
family's mean and draws); this module holds the public functions, the posterior predictive
check and the output tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from mlmdsl.compiler.families import Family
from mlmdsl.compiler.ir import ROWS, CheckedModel, Likelihood
from mlmdsl.posterior import arviz_compat
from mlmdsl.posterior.errors import PredictionError
from mlmdsl.posterior.evaluation import Predictor
from mlmdsl.posterior.outcomes import family_draw, family_location, family_mean, ordered_probabilities

if TYPE_CHECKING:
    from mlmdsl.posterior.fit import Fit

__all__ = [
    "PPC",
    "PredictionError",
    "family_draw",
    "family_location",
    "family_mean",
    "ordered_probabilities",
    "ppc",
    "predict",
    "predict_draws",
]

Kind = Literal["epred", "linpred", "response"]
Mode = Literal["existing", "average", "new"]
Output = Literal["frame", "arviz"]

KINDS: tuple[str, ...] = ("epred", "linpred", "response")
MODES: tuple[str, ...] = ("existing", "average", "new")


# ------------------------------------------------------------------------------ public API


def predict(
    fit: Fit,
    newdata: pd.DataFrame | Mapping[str, Sequence[Any]] | str | Path | None = None,
    *,
    kind: Kind = "epred",
    groups: Mode | Mapping[str, Mode] = "existing",
    outcome: str | None = None,
    seed: int | None = None,
    summary: bool = True,
    probs: tuple[float, float] = (0.025, 0.975),
    ndraws: int | None = None,
    output: Output = "frame",
) -> Any:
    """Predictions for the rows of `newdata` (default: the data the model was fitted to).

    Returns the newdata columns plus Estimate, Est.Error and the `probs` quantiles (Q2.5,
    Q97.5) per row (`summary=True`), or one row per row and draw with `.row`, `.draw` and
    `value` (`summary=False`). Models with several outcomes add `.outcome`; per-category
    probabilities add `.category`. `output="arviz"` gives ArviZ data (InferenceData on 0.x, DataTree on 1.x) with a
    `predictions` group (dims chain, draw, obs) and the newdata in `predictions_constant_data`.
    """
    _check_choice("kind", kind, KINDS)
    _check_choice("output", output, ("frame", "arviz"))
    _check_probs(probs)
    table = _newdata_table(fit, newdata)
    values = predict_draws(fit, table, kind=kind, groups=groups, outcome=outcome, seed=seed, ndraws=ndraws)
    if output == "arviz":
        return _to_inference_data(fit, table, values, kind, ndraws)
    if summary:
        return _summary_frame(table, values, probs)
    return _long_frame(table, values)


def predict_draws(
    fit: Fit,
    table: pd.DataFrame,
    *,
    kind: Kind = "epred",
    groups: Mode | Mapping[str, Mode] = "existing",
    outcome: str | None = None,
    seed: int | None = None,
    ndraws: int | None = None,
) -> dict[str, np.ndarray]:
    """outcome -> draws of the prediction: (draws, rows), or (draws, rows, categories)."""
    _check_choice("kind", kind, KINDS)
    model = fit.checked_model
    modes = _group_modes(groups, model)
    if len(table) == 0:
        raise PredictionError("newdata has no rows")
    predictor = Predictor(fit, model, table, modes, seed, _draw_selection(fit, ndraws))
    return {lk.outcome: predictor.outcome(lk, kind) for lk in _likelihoods(model, outcome)}


def row_labels(fit: Fit, table: pd.DataFrame, grouping: str) -> np.ndarray:
    """Each row's level of a grouping, as the fit labels it (derived indices computed)."""
    return _data_predictor(fit, table).labels(grouping, f"`{grouping}`")


def trials(fit: Fit, table: pd.DataFrame, outcome: str) -> np.ndarray | None:
    """The number of trials per row for a Binomial outcome; None for other families."""
    lk = _likelihoods(fit.checked_model, outcome)[0]
    if lk.family.name != "Binomial":
        return None
    predictor = _data_predictor(fit, table)
    value = predictor.eval(lk.args[0], predictor.letter(lk.stmt), ROWS)
    return np.broadcast_to(np.asarray(value, dtype=float), (len(table),))


def _data_predictor(fit: Fit, table: pd.DataFrame) -> Predictor:
    # Data-only questions need no draws beyond one to size the arrays.
    model = fit.checked_model
    return Predictor(fit, model, table, _group_modes("existing", model), None, np.arange(1))


# ---------------------------------------------------------------------- posterior predictive


@dataclass(frozen=True)
class PPC:
    """Observed vs replicated outcome (from the fit's generated quantities)."""

    outcome: str
    observed: np.ndarray  # (N,)
    replicated: np.ndarray  # (draws, N), chains stacked
    obs_labels: list
    discrete: bool

    def frame(self, probs: tuple[float, float] = (0.025, 0.975)) -> pd.DataFrame:
        """One row per observation: observed, and the replicated mean, sd and quantiles."""
        _check_probs(probs)
        quantiles = np.quantile(self.replicated, probs, axis=0)
        out = pd.DataFrame(
            {
                "observed": self.observed,
                "Estimate": self.replicated.mean(axis=0),
                "Est.Error": self.replicated.std(axis=0, ddof=1),
            },
            index=pd.Index(self.obs_labels, name="obs"),
        )
        for p, q in zip(probs, quantiles, strict=True):
            out[_quantile_name(p)] = q
        return out

    def plot(self, **kwargs: Any) -> Any:
        """Densities (continuous) or bars with intervals (discrete); see mlmdsl.posterior.plots.ppc."""
        from mlmdsl.posterior.ppc_plot import ppc_figure

        return ppc_figure(self, **kwargs)


def ppc(fit: Fit, outcome: str | None = None) -> PPC:
    if not arviz_compat.has_group(fit.idata, "posterior_predictive"):
        raise PredictionError(
            "this fit has no replicated outcomes (posterior_predictive): compile with "
            "generated quantities and use a backend that returns them"
        )
    group = fit.idata.posterior_predictive
    name = _pick_outcome(list(group.data_vars), outcome, "replicated outcomes")
    rep = np.asarray(group[name].transpose("chain", "draw", ...).values, dtype=float)
    replicated = rep.reshape(rep.shape[0] * rep.shape[1], *rep.shape[2:])
    if not arviz_compat.has_group(fit.idata, "observed_data") or name not in fit.idata.observed_data:
        raise PredictionError(f"this fit has no observed values of `{name}` to compare with")
    observed = np.asarray(fit.idata.observed_data[name].values, dtype=float)
    labels = list(fit.schema.coords.get("obs", range(1, observed.shape[0] + 1)))
    return PPC(name, observed, replicated, labels, _is_discrete(fit, name, observed, replicated))


def _is_discrete(fit: Fit, name: str, observed: np.ndarray, replicated: np.ndarray) -> bool:
    family = _outcome_family(fit, name)
    if family is not None:
        return family.discrete
    # Without the model, whole numbers everywhere is the best evidence of a discrete outcome.
    return bool(np.all(observed == np.round(observed)) and np.all(replicated == np.round(replicated)))


def _outcome_family(fit: Fit, name: str) -> Family | None:
    if fit.model_source is None:
        return None
    lk = next((lk for lk in fit.checked_model.likelihoods if lk.outcome == name), None)
    return None if lk is None else lk.family


# ------------------------------------------------------------------------- choosing things


def _check_choice(what: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        shown = ", ".join(f'"{a}"' for a in allowed)
        raise PredictionError(f"{what} must be one of {shown}, got {value!r}")


def _check_probs(probs: Sequence[float]) -> None:
    if not all(0 < p < 1 for p in probs):
        raise PredictionError(f"probs must lie between 0 and 1, got {tuple(probs)}")


def _group_modes(groups: Mode | Mapping[str, Mode], model: CheckedModel) -> dict[str, str]:
    """A mode for every grouping; a single mode applies to all of them."""
    if isinstance(groups, str):
        _check_choice("groups", groups, MODES)
        return dict.fromkeys(model.groupings, groups)
    unknown = [g for g in groups if g not in model.groupings]
    if unknown:
        known = ", ".join(model.groupings) or "none"
        raise PredictionError(f"groups names {unknown}, which are not groupings (groupings: {known})")
    for mode in groups.values():
        _check_choice("each mode in groups", mode, MODES)
    return {g: str(groups.get(g, "existing")) for g in model.groupings}


def _likelihoods(model: CheckedModel, outcome: str | None) -> list[Likelihood]:
    if outcome is None:  # a modelled column is a parameter of the others, not predicted itself
        return [lk for lk in model.likelihoods if model.modelled_named(lk.outcome) is None]
    chosen = [lk for lk in model.likelihoods if lk.outcome == outcome]
    if not chosen:
        known = ", ".join(lk.outcome for lk in model.likelihoods)
        raise PredictionError(f"`{outcome}` is not an outcome of this model (outcomes: {known})")
    return chosen


def _pick_outcome(names: list[str], outcome: str | None, what: str) -> str:
    if outcome is not None:
        if outcome not in names:
            raise PredictionError(f"no {what} for `{outcome}`; this fit has {names}")
        return outcome
    if len(names) != 1:
        raise PredictionError(f"this fit has {what} for {names}: choose one with outcome=...")
    return names[0]


def _draw_selection(fit: Fit, ndraws: int | None) -> np.ndarray:
    """Indices into the chain-stacked draws: all of them, or `ndraws` evenly spaced."""
    total = fit.n_chains * fit.n_draws
    if ndraws is None or ndraws >= total:
        return np.arange(total)
    if ndraws < 1:
        raise PredictionError(f"ndraws must be at least 1, got {ndraws}")
    return np.unique(np.linspace(0, total - 1, ndraws).round().astype(np.int64))


def _newdata_table(fit: Fit, newdata: pd.DataFrame | Mapping[str, Sequence[Any]] | str | Path | None) -> pd.DataFrame:
    if newdata is None:
        table = fit.data
        if table is None:
            raise PredictionError("this fit does not carry its data: pass newdata (a DataFrame or a CSV path)")
        return table
    if isinstance(newdata, pd.DataFrame):
        return newdata
    if isinstance(newdata, (str, Path)):
        from mlmdsl.data import DataError, read_table

        try:
            return read_table(newdata)
        except DataError as exc:
            raise PredictionError(str(exc).strip().splitlines()[0]) from None
    if isinstance(newdata, Mapping):
        return pd.DataFrame(dict(newdata))
    raise PredictionError(f"newdata must be a DataFrame, a dict of columns or a path, got {type(newdata).__name__}")


# ---------------------------------------------------------------------------------- output


def _quantile_name(p: float) -> str:
    return f"Q{100 * p:g}"


def _extra_dims(values: dict[str, np.ndarray]) -> tuple[bool, bool]:
    several = len(values) > 1
    categories = any(v.ndim == 3 for v in values.values())
    return several, categories


def _summary_frame(table: pd.DataFrame, values: dict[str, np.ndarray], probs: tuple[float, float]) -> pd.DataFrame:
    several, categories = _extra_dims(values)
    pieces = []
    for name, draws in values.items():
        per_cat = draws if draws.ndim == 3 else draws[..., None]
        for k in range(per_cat.shape[-1]):
            x = per_cat[..., k]
            piece = table.copy()
            if several:
                piece[".outcome"] = name
            if categories:
                piece[".category"] = k + 1 if draws.ndim == 3 else pd.NA
            piece["Estimate"] = x.mean(axis=0)
            piece["Est.Error"] = x.std(axis=0, ddof=1) if x.shape[0] > 1 else np.nan
            for p, q in zip(probs, np.quantile(x, probs, axis=0), strict=True):
                piece[_quantile_name(p)] = q
            pieces.append(piece)
    out = pd.concat(pieces)
    if categories:  # rows together, categories in order within each row
        position = np.tile(np.arange(len(table)), len(pieces))
        out = out.iloc[np.argsort(position, kind="stable")]
    return out


def _long_frame(table: pd.DataFrame, values: dict[str, np.ndarray]) -> pd.DataFrame:
    several, categories = _extra_dims(values)
    pieces = []
    for name, draws in values.items():
        per_cat = draws if draws.ndim == 3 else draws[..., None]
        n_draws, n_rows, n_cat = per_cat.shape
        # Row-major, like tidybayes: all draws of row 0 (category by category), then row 1.
        flat = np.transpose(per_cat, (1, 2, 0)).reshape(-1)
        rows = np.repeat(np.arange(n_rows), n_cat * n_draws)
        piece = table.iloc[rows].reset_index(drop=True)
        piece[".row"] = rows
        if several:
            piece[".outcome"] = name
        if categories:
            cats = np.tile(np.repeat(np.arange(1, n_cat + 1), n_draws), n_rows)
            piece[".category"] = cats if draws.ndim == 3 else pd.NA
        piece[".draw"] = np.tile(np.arange(n_draws), n_rows * n_cat)
        piece["value"] = flat
        pieces.append(piece)
    return pd.concat(pieces, ignore_index=True)


def _to_inference_data(
    fit: Fit, table: pd.DataFrame, values: dict[str, np.ndarray], kind: str, ndraws: int | None
) -> Any:
    import xarray as xr

    obs = list(table.index)
    all_draws = ndraws is None or ndraws >= fit.n_chains * fit.n_draws
    chains, per_chain = (fit.n_chains, fit.n_draws) if all_draws else (1, -1)
    data_vars = {}
    for name, draws in values.items():
        shaped = draws.reshape(chains, per_chain, *draws.shape[1:])
        dims = ["chain", "draw", "obs"] + (["category"] if draws.ndim == 3 else [])
        coords: dict[str, Any] = {"obs": obs}
        if draws.ndim == 3:
            coords["category"] = np.arange(1, draws.shape[2] + 1)
        data_vars[name] = xr.DataArray(shaped, dims=dims, coords=coords)
    predictions = xr.Dataset(data_vars, attrs={"kind": kind, "model_name": fit.model_name})
    constant = xr.Dataset({c: ("obs", table[c].to_numpy()) for c in table.columns}, coords={"obs": obs})
    return arviz_compat.inference_data({"predictions": predictions, "predictions_constant_data": constant})
