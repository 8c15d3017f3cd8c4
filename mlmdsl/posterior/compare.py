"""Model comparison by expected log predictive density: brms's `loo_compare` for mlmdsl fits.

    mlmdsl.compare({"no pooling": fit1, "partial pooling": fit2})

PSIS-LOO comes from ArviZ; the table is computed here from the pointwise values so that it has
brms's columns and conventions (best model first with elpd_diff = 0, se_diff from the pointwise
differences, looic = -2 elpd_loo, standard errors sqrt(n * var)). A model with several outcomes
is scored per row: the outcomes' pointwise log-likelihoods are summed, so a row counts once.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

# `mlmdsl.posterior.compare` is exported by the package, and `import mlmdsl` must stay light (the CLI's
# transpile/check start fast): numpy, pandas, xarray and ArviZ are imported where they are used.
if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import xarray as xr

    from mlmdsl.posterior.fit import Fit

__all__ = ["ComparisonError", "LooWarning", "compare", "format_comparison", "information_criterion"]

Criterion = Literal["loo", "waic"]

PARETO_K_MAX = 0.7  # Vehtari et al. (2024): above it the PSIS estimate of that row is unreliable
WAIC_VAR_MAX = 0.4  # the posterior variance of a row's log density at which WAIC starts to fail
_MAX_LABELS = 10
_LOG_LIK_NAME = "log_lik"


class LooWarning(UserWarning):
    """An information criterion is unreliable for some observations (they are named)."""


class ComparisonError(ValueError):
    """The fits cannot be compared (no log-likelihood, different observations, ...)."""


@dataclass(frozen=True)
class Pointwise:
    """One fit's pointwise criterion: elpd_i, the effective number of parameters p_i, and
    the per-row diagnostic (Pareto k for LOO, variance of the log density for WAIC)."""

    elpd: np.ndarray
    p: np.ndarray
    diagnostic: np.ndarray
    labels: list

    def estimate(self) -> dict[str, float]:
        n = len(self.elpd)
        return {
            "elpd": float(self.elpd.sum()),
            "se_elpd": _se(self.elpd),
            "p": float(self.p.sum()),
            "se_p": _se(self.p),
            "n": n,
        }


def _se(x: np.ndarray) -> float:
    import numpy as np

    # loo's convention: sqrt(n * var(x)), with the sample variance.
    return float(np.sqrt(len(x) * np.var(x, ddof=1))) if len(x) > 1 else float("nan")


# ---------------------------------------------------------------------------- per fit


def log_likelihood(fit: Fit) -> xr.DataArray:
    """(chain, draw, obs) pointwise log-likelihood, outcomes summed per row."""
    from mlmdsl.posterior import arviz_compat

    if not arviz_compat.has_group(fit.idata, "log_likelihood") or not fit.idata.log_likelihood.data_vars:
        raise ComparisonError(
            f"`{fit.model_name}` has no pointwise log-likelihood: compile it with generated "
            "quantities and sample with a backend that returns them (e.g. cmdstan)"
        )
    group = fit.idata.log_likelihood
    arrays = [group[name].transpose("chain", "draw", "obs") for name in group.data_vars]
    total = arrays[0]
    for other in arrays[1:]:
        total = total + other
    return total.rename(_LOG_LIK_NAME)


def _as_idata(fit: Fit, log_lik: xr.DataArray) -> Any:
    import xarray as xr

    from mlmdsl.posterior import arviz_compat

    # ArviZ reads the relative efficiency of the draws from the posterior, the rest from here.
    posterior = arviz_compat.dataset(fit.idata, "posterior")
    return arviz_compat.inference_data(
        {"posterior": posterior, "log_likelihood": xr.Dataset({_LOG_LIK_NAME: log_lik})}
    )


def information_criterion(fit: Fit, criterion: Criterion = "loo") -> Any:
    """ArviZ's pointwise PSIS-LOO or WAIC (an ELPDData) for one fit; cached on the fit.

    ArviZ 1.x removed WAIC: asking for it there is a ComparisonError that says so."""
    from mlmdsl.posterior import arviz_compat

    _check_criterion(criterion)
    cache: dict[str, Any] = fit.__dict__.setdefault("_information_criteria", {})
    if criterion not in cache:
        if criterion == "waic" and arviz_compat.ARVIZ_1:
            raise ComparisonError(arviz_compat.WAIC_REMOVED)
        idata = _as_idata(fit, log_likelihood(fit))
        # Our own warnings name the observations; ArviZ's generic ones would only repeat them.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            func = arviz_compat.loo if criterion == "loo" else arviz_compat.waic
            cache[criterion] = func(idata, _LOG_LIK_NAME)
    return cache[criterion]


def pointwise(fit: Fit, criterion: Criterion = "loo") -> Pointwise:
    import numpy as np
    from scipy.special import logsumexp

    from mlmdsl.posterior import arviz_compat

    log_lik = log_likelihood(fit)
    flat = np.asarray(log_lik.values, dtype=float)
    flat = flat.reshape(flat.shape[0] * flat.shape[1], flat.shape[2])
    lpd = logsumexp(flat, axis=0) - np.log(flat.shape[0])
    labels = list(fit.schema.coords.get("obs", log_lik.coords["obs"].values.tolist()))
    elpd, pareto_k = arviz_compat.elpd_pointwise(information_criterion(fit, criterion))
    if criterion == "loo":
        assert pareto_k is not None
        return Pointwise(elpd, lpd - elpd, pareto_k, labels)
    variance = flat.var(axis=0, ddof=1)
    return Pointwise(elpd, variance, variance, labels)


def reliability_warnings(name: str, pw: Pointwise, criterion: Criterion) -> list[str]:
    """Sentences naming the observations the criterion is unreliable for; [] if none."""
    import numpy as np

    if criterion == "loo":
        # A k that is not a number (ArviZ 1.x, where 0.x gives inf) means PSIS failed: unreliable.
        bad = ~(pw.diagnostic <= PARETO_K_MAX)
        what = f"Pareto k > {PARETO_K_MAX}"
        advice = (
            "PSIS-LOO is unreliable for them; check them for outliers, use a more robust "
            "likelihood (e.g. StudentT), or use K-fold cross-validation (mlm compare --criterion kfold, "
            "mlmdsl.kfold)"
        )
    else:
        bad = ~(pw.diagnostic <= WAIC_VAR_MAX)
        what = f"a posterior variance of the log density above {WAIC_VAR_MAX}"
        advice = 'WAIC may be unreliable; prefer criterion="loo"'
    if not bad.any():
        return []
    labels = [pw.labels[i] for i in np.flatnonzero(bad)]
    shown = ", ".join(str(v) for v in labels[:_MAX_LABELS])
    if len(labels) > _MAX_LABELS:
        shown += f" and {len(labels) - _MAX_LABELS} more"
    count = f"{len(labels)} observation{'s' * (len(labels) != 1)}"
    return [f"{name}: {count} with {what} (obs {shown}): {advice}"]


# ------------------------------------------------------------------------------- compare


def compare(
    fits: Mapping[str, Fit] | Sequence[Fit],
    criterion: Criterion = "loo",
    *,
    warn: bool = True,
) -> pd.DataFrame:
    """brms's loo_compare table, best model first.

    Columns for LOO: elpd_diff, se_diff, elpd_loo, se_elpd_loo, p_loo, se_p_loo, looic,
    se_looic (for WAIC the same with _waic / waic). elpd_diff is each model's elpd minus the
    best one's (0 for the best), se_diff the standard error of that difference from the
    pointwise values. Observations for which the criterion is unreliable (Pareto k > 0.7) are
    named in LooWarning warnings and in `table.attrs["warnings"]`.
    """
    _check_criterion(criterion)
    named = _named(fits)
    if len(named) < 2:
        raise ComparisonError("compare needs at least two fits")
    _same_observations(named)
    points = {name: pointwise(fit, criterion) for name, fit in named.items()}
    table = _table(points, criterion)
    messages = [m for name, pw in points.items() for m in reliability_warnings(name, pw, criterion)]
    table.attrs["criterion"] = criterion
    table.attrs["warnings"] = messages
    if warn:
        for message in messages:
            warnings.warn(message, LooWarning, stacklevel=2)
    return table


def _check_criterion(criterion: str) -> None:
    if criterion not in ("loo", "waic"):
        raise ComparisonError(f'criterion must be "loo" or "waic", got {criterion!r}')


def _named(fits: Mapping[str, Fit] | Sequence[Fit]) -> dict[str, Fit]:
    if isinstance(fits, Mapping):
        return {str(k): v for k, v in fits.items()}
    named: dict[str, Fit] = {}
    for k, fit in enumerate(fits):
        name = fit.model_name
        named[name if name not in named else f"{name} ({k + 1})"] = fit
    return named


def _same_observations(named: dict[str, Fit]) -> None:
    """Pointwise differences only mean something when every model predicts the same rows."""
    reference_name, reference = next(iter(named.items()))
    ref_obs = list(reference.schema.coords.get("obs", []))
    for name, fit in named.items():
        obs = list(fit.schema.coords.get("obs", []))
        if len(obs) != len(ref_obs):
            raise ComparisonError(
                f"the models were fitted to different data: `{reference_name}` has "
                f"{len(ref_obs)} observations, `{name}` has {len(obs)}"
            )
        if obs != ref_obs:
            raise ComparisonError(
                f"the models were fitted to different rows: `{reference_name}` and `{name}` "
                "have different observation labels"
            )


def _table(points: dict[str, Pointwise], criterion: Criterion) -> pd.DataFrame:
    import pandas as pd

    estimates = {name: pw.estimate() for name, pw in points.items()}
    order = sorted(points, key=lambda name: estimates[name]["elpd"], reverse=True)
    best = points[order[0]]
    ic = "looic" if criterion == "loo" else "waic"
    rows = []
    for name in order:
        est = estimates[name]
        diff = points[name].elpd - best.elpd
        rows.append(
            {
                "elpd_diff": float(diff.sum()),
                "se_diff": 0.0 if name == order[0] else _se(diff),
                f"elpd_{criterion}": est["elpd"],
                f"se_elpd_{criterion}": est["se_elpd"],
                f"p_{criterion}": est["p"],
                f"se_p_{criterion}": est["se_p"],
                ic: -2 * est["elpd"],
                f"se_{ic}": 2 * est["se_elpd"],
            }
        )
    return pd.DataFrame(rows, index=pd.Index(order, name="model"))


def format_comparison(table: pd.DataFrame) -> str:
    """The table as brms prints it (fixed width, 1 decimal)."""
    shown = table.copy()
    shown.index = [str(i) for i in shown.index]
    label_width = max(len(i) for i in shown.index)
    cells = {c: [f"{v:.1f}" for v in shown[c]] for c in shown.columns}
    widths = {c: max(len(c), *(len(v) for v in cells[c])) for c in shown.columns}
    lines = [" " * label_width + "".join(f"  {c:>{widths[c]}}" for c in shown.columns)]
    for k, label in enumerate(shown.index):
        row = "".join(f"  {cells[c][k]:>{widths[c]}}" for c in shown.columns)
        lines.append(f"{label:<{label_width}}{row}")
    return "\n".join(lines)
