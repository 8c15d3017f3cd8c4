"""K-fold cross-validation: brms's `kfold()`, for when PSIS-LOO's Pareto k is high.

The rows (or, with `group=`, whole levels of a grouping column) are split into K folds. Each fold
is held out once: the model is fitted to the other rows with the ordinary sampler, and the
held-out rows' log predictive density is computed from that fit's draws:

    elpd_i = log( (1/S) sum_s p(y_i | theta_s) )

How the held-out log density is computed: the fitted draws are handed to the prior simulator
(simulate.py) as *given* values on the held-out rows' own design, and the likelihood's log density
is evaluated there (scipy's logpdf/logpmf per family). Group levels the training fit saw keep
their posterior draws; levels it never saw (every held-out group with `group=`) are drawn from
the population given each draw's hyperparameters, as brms does with `allow_new_levels = TRUE`.
This needs no change to the Stan program and no second sampler pass, and it is the same
evaluation whether a level is new or not.

A fit to all the data gives the in-sample lppd, so p_kfold = lppd - elpd_kfold as in brms. The
K + 1 fits run as Dask tasks (cluster.py); each returns the held-out pointwise values only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from mlmdsl.calibration.cluster import cached_model, dask_client, run_tasks
from mlmdsl.calibration.prior import replace_outcomes
from mlmdsl.calibration.simulate import Simulator
from mlmdsl.compiler.ir import CheckedModel
from mlmdsl.data import BoundData, read_table
from mlmdsl.posterior import arviz_compat
from mlmdsl.posterior.compare import Pointwise

if TYPE_CHECKING:
    from mlmdsl.api import Model
    from mlmdsl.posterior.fit import Fit

__all__ = ["KfoldError", "KfoldResult", "compare_kfold", "fold_ids", "kfold"]

FULL = -1  # the task number of the fit to all rows


class KfoldError(ValueError):
    """Bad K-fold settings, or a fold whose fit failed."""


@dataclass(frozen=True)
class KfoldSettings:
    source: str
    filename: str
    parameterization: str = "noncentered"
    backend: str = "stanli"
    chains: int = 4
    iter_warmup: int = 1000
    iter_sampling: int = 1000
    adapt_delta: float = 0.8
    max_treedepth: int = 10
    seed: int = 0


def fold_ids(table: pd.DataFrame, K: int, group: str | None = None, seed: int | None = None) -> np.ndarray:
    """0..K-1 per row: rows dealt into K folds at random (balanced), or, with `group`, whole
    levels of that column dealt into folds."""
    rng = np.random.default_rng(seed)
    n = len(table)
    if group is None:
        if not 2 <= K <= n:
            raise KfoldError(f"--folds must be between 2 and the number of rows ({n}), got {K}")
        ids = np.empty(n, dtype=np.int64)
        ids[rng.permutation(n)] = np.arange(n) % K
        return ids
    if group not in table.columns:
        known = ", ".join(map(str, table.columns))
        raise KfoldError(f"--group-folds names `{group}`, which is not a column of the data (columns: {known})")
    codes, levels = pd.factorize(table[group])
    if (codes < 0).any():
        raise KfoldError(f"--group-folds column `{group}` has missing values")
    if not 2 <= K <= len(levels):
        raise KfoldError(f"--folds must be between 2 and the number of levels of `{group}` ({len(levels)}), got {K}")
    level_fold = np.empty(len(levels), dtype=np.int64)
    level_fold[rng.permutation(len(levels))] = np.arange(len(levels)) % K
    return level_fold[codes]


def _coded(model: Model, table: pd.DataFrame) -> tuple[pd.DataFrame, BoundData]:
    """The table with ordered outcomes as categoricals over all their categories, so a subset
    that misses a category still binds to the same cutpoints."""
    bound = model.bind(table)
    return replace_outcomes(table, model.checked, bound, bound.observed), bound


def _posterior_draws(fit: Fit, checked: CheckedModel, held_out: BoundData) -> dict[str, np.ndarray]:
    """The fit's draws per parameter, chains stacked; group-level draws laid out on the held-out
    design's levels, NaN where the fit never saw the level (the simulator draws those)."""
    posterior = arviz_compat.dataset(fit.idata, "posterior")
    given: dict[str, np.ndarray] = {}
    for p in checked.params:
        if p.name not in posterior:
            continue
        da = posterior[p.name].transpose("chain", "draw", ...)
        values = np.asarray(da.values, dtype=float)
        values = values.reshape(values.shape[0] * values.shape[1], *values.shape[2:])
        if p.shape == "group":
            seen = {_plain(v): k for k, v in enumerate(da.coords[da.dims[2]].values.tolist())}
            wanted = held_out.labels[str(p.domain)]
            laid = np.full((values.shape[0], len(wanted)), np.nan)
            for j, label in enumerate(wanted):
                k = seen.get(_plain(label))
                if k is not None:
                    laid[:, j] = values[:, k]
            values = laid
        given[p.name] = values
    return given


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def held_out_log_lik(fit: Fit, model: Model, table: pd.DataFrame, seed: int) -> np.ndarray:
    """(draws, rows of `table`) log density of `table`'s outcomes under `fit`'s draws, outcomes
    of one row summed."""
    bound = model.bind(table)
    given = _posterior_draws(fit, model.checked, bound)
    draws = fit.n_chains * fit.n_draws
    sim = Simulator(model.checked, bound, draws, np.random.default_rng(seed), given=given)
    return sum(sim.log_likelihood(lk, bound.observed[lk.outcome]) for lk in model.checked.likelihoods)


def _pointwise_elpd(log_lik: np.ndarray) -> np.ndarray:
    return logsumexp(log_lik, axis=0) - np.log(log_lik.shape[0])


def fold_task(
    fold: int, settings: KfoldSettings, table: pd.DataFrame, ids: np.ndarray, factory: Callable[..., Model]
) -> dict[str, Any]:
    """Fit without fold `fold` (FULL: with every row) and return the held-out pointwise elpd."""
    model = cached_model(factory, settings.source, settings.filename, settings.parameterization)
    test = np.arange(len(table)) if fold == FULL else np.flatnonzero(ids == fold)
    train = np.arange(len(table)) if fold == FULL else np.flatnonzero(ids != fold)
    seed = int(np.random.SeedSequence([settings.seed, fold + 1]).generate_state(1)[0] % (2**31 - 2)) + 1
    result: dict[str, Any] = {"fold": fold, "rows": test, "elpd": None, "divergences": 0, "error": ""}
    try:
        fit = model.fit(
            table.iloc[train],
            backend=settings.backend,
            chains=settings.chains,
            iter_warmup=settings.iter_warmup,
            iter_sampling=settings.iter_sampling,
            seed=seed,
            adapt_delta=settings.adapt_delta,
            max_treedepth=settings.max_treedepth,
            refresh=0,
        )
        result["elpd"] = _pointwise_elpd(held_out_log_lik(fit, model, table.iloc[test], seed))
    except Exception as exc:
        lines = f"{type(exc).__name__}: {exc}".splitlines()
        result["error"] = " | ".join(line.strip() for line in lines if line.strip())[:600]
        return result
    if arviz_compat.has_group(fit.idata, "sample_stats"):
        stats = arviz_compat.dataset(fit.idata, "sample_stats")
        if "diverging" in stats:
            result["divergences"] = int(np.asarray(stats["diverging"].values).sum())
    return result


@dataclass
class KfoldResult:
    """elpd_kfold per row (and in total), as brms's kfold() reports it."""

    model_name: str
    pointwise: Pointwise  # elpd_i, p_i = lppd_i - elpd_i, diagnostic: the fold of each row
    K: int
    group: str | None
    divergences: dict[int, int]  # fold -> divergent transitions of its fit (FULL: the full fit)

    def estimate(self) -> dict[str, float]:
        return self.pointwise.estimate()

    @property
    def elpd(self) -> float:
        return self.estimate()["elpd"]

    @property
    def se(self) -> float:
        return self.estimate()["se_elpd"]

    def __repr__(self) -> str:
        e = self.estimate()
        by = f" by `{self.group}`" if self.group else ""
        return (
            f"<KfoldResult {self.model_name}: {self.K}-fold{by}, elpd_kfold {e['elpd']:.1f} (se {e['se_elpd']:.1f}), "
            f"p_kfold {e['p']:.1f}>"
        )


def kfold(
    model: Model,
    data: pd.DataFrame | str | Path,
    K: int = 10,
    group: str | None = None,
    seed: int | None = None,
    *,
    chains: int = 4,
    iter_warmup: int = 1000,
    iter_sampling: int = 1000,
    adapt_delta: float = 0.8,
    max_treedepth: int = 10,
    backend: str = "stanli",
    scheduler: str | None = None,
    workers: int | None = None,
    client: Any = None,
) -> KfoldResult:
    """K-fold cross-validation of `model` on `data`; `group` leaves whole levels of that column
    out together. The same seed gives the same folds for every model of a data set. The K + 1
    fits run on `client` (a dask.distributed Client), else on `scheduler`, else on a local
    cluster of `workers` processes."""
    table = read_table(data)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0] % (2**31 - 1))
    ids = fold_ids(table, K, group, seed)
    coded, _ = _coded(model, table)
    settings = KfoldSettings(
        model.source,
        model._compiled.filename,
        model._parameterization,
        backend,
        chains,
        iter_warmup,
        iter_sampling,
        adapt_delta,
        max_treedepth,
        int(seed),
    )
    results: list[dict[str, Any]] = []
    tasks = [FULL, *range(K)]
    if client is not None:
        run_tasks(client, fold_task, tasks, settings, coded, ids, type(model).from_string, on_result=results.append)
    else:
        with dask_client(scheduler, workers) as own:
            run_tasks(own, fold_task, tasks, settings, coded, ids, type(model).from_string, on_result=results.append)
    failed = [r for r in results if r["error"]]
    if failed:
        which = "the fit to all rows" if failed[0]["fold"] == FULL else f"fold {failed[0]['fold'] + 1}"
        raise KfoldError(f"{model.name}: {which} failed: {failed[0]['error']}")
    elpd = np.full(len(table), np.nan)
    lppd = np.full(len(table), np.nan)
    for r in results:
        (lppd if r["fold"] == FULL else elpd)[r["rows"]] = r["elpd"]
    labels = list(table.index)
    pointwise = Pointwise(elpd, lppd - elpd, ids.astype(float), labels)
    return KfoldResult(model.name, pointwise, K, group, {int(r["fold"]): int(r["divergences"]) for r in results})


def compare_kfold(results: Mapping[str, KfoldResult]) -> pd.DataFrame:
    """The comparison table in LOO's form (posterior.compare), best first: elpd_diff, se_diff,
    elpd_kfold, se_elpd_kfold, p_kfold, se_p_kfold, kfoldic, se_kfoldic."""
    if len(results) < 2:
        raise KfoldError("compare needs at least two models")
    points = {name: r.pointwise for name, r in results.items()}
    sizes = {len(p.elpd) for p in points.values()}
    if len(sizes) != 1:
        raise KfoldError("the models were cross-validated on different data")
    estimates = {name: pw.estimate() for name, pw in points.items()}
    order = sorted(points, key=lambda name: estimates[name]["elpd"], reverse=True)
    best = points[order[0]]
    rows = []
    for name in order:
        est = estimates[name]
        diff = points[name].elpd - best.elpd
        rows.append(
            {
                "elpd_diff": float(diff.sum()),
                "se_diff": 0.0 if name == order[0] else float(np.sqrt(len(diff) * np.var(diff, ddof=1))),
                "elpd_kfold": est["elpd"],
                "se_elpd_kfold": est["se_elpd"],
                "p_kfold": est["p"],
                "se_p_kfold": est["se_p"],
                "kfoldic": -2 * est["elpd"],
                "se_kfoldic": 2 * est["se_elpd"],
            }
        )
    table = pd.DataFrame(rows, index=pd.Index(order, name="model"))
    table.attrs["criterion"] = "kfold"
    return table
