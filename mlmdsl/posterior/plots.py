"""Figures of a fit: coefficient intervals, group effects, shrinkage, group-level sds, trace and
rank plots, posterior predictive checks.

Every function returns a matplotlib Figure (mlmdsl.posterior.figure.Figure): no GUI backend is
needed (Agg renders the PNGs), and a notebook shows the returned figure once. With ArviZ 1.x the
plots that arviz-plots draws (trace, rank, intervals as a forest plot, the PPC densities) come
from it; the shrinkage, group-effects and sds figures, which no library has, are drawn here on
both lines, as are all figures with ArviZ 0.x.

    mlmdsl.posterior.plots.shrinkage(fit)          # or fit.plot("shrinkage")
    mlmdsl.posterior.plots.save_all(fit, "plots")  # what `mlm fit ... --plots DIR` writes
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from scipy.stats import rankdata

from mlmdsl.posterior import arviz_compat
from mlmdsl.posterior.figure import ACCENT, CHAIN_COLORS, DARK, LIGHT, LIGHTEST, MID, Figure, PlotError, new_figure
from mlmdsl.posterior.ppc_plot import ppc_figure

if TYPE_CHECKING:
    from mlmdsl.posterior.fit import Fit

__all__ = [
    "PLOTS",
    "Figure",
    "PlotError",
    "group_effects",
    "intervals",
    "plot",
    "ppc",
    "ppc_figure",
    "rank",
    "save_all",
    "sds",
    "shrinkage",
    "shrinkage_table",
    "trace",
]

# What summarises "the model" when no variables are named: everything but per-level effects.
_OVERVIEW_ROLES = ("population", "hyper", "distributional", "cutpoints", "correlation")
_MAX_TICK_LABELS = 60
_DENSE_ROWS = 30
_DPI = 120


# --------------------------------------------------------------------------------- draws


def _flat(fit: Fit, name: str) -> np.ndarray:
    """(chains * draws, elements) draws of a posterior variable."""
    da = fit.idata.posterior[name]
    values = np.asarray(da.transpose("chain", "draw", ...).values, dtype=float)
    return values.reshape(values.shape[0] * values.shape[1], -1)


def _elements(fit: Fit, variables: Iterable[str] | None, roles: Sequence[str]) -> list[tuple[str, np.ndarray]]:
    """(label, draws) per scalar element; a correlation matrix contributes its lower triangle."""
    chosen = fit.posterior_vars(roles if variables is None else None, variables)
    out = []
    for var in chosen:
        flat = _flat(fit, var.name)
        for k, (idx, label) in enumerate(fit.elements(var.name)):
            if var.role == "correlation" and len(idx) == 2 and idx[1] >= idx[0]:
                continue  # the diagonal is 1 and the upper triangle repeats the lower
            out.append((label, flat[:, k]))
    return out


def _chains(fit: Fit, name: str, k: int) -> np.ndarray:
    """(chains, draws) of one element."""
    da = fit.idata.posterior[name]
    values = np.asarray(da.transpose("chain", "draw", ...).values, dtype=float)
    return values.reshape(values.shape[0], values.shape[1], -1)[..., k]


# ------------------------------------------------------------------------------ intervals


def _interval_rows(ax: Axes, rows: Sequence[tuple[str, np.ndarray]], prob: float, prob_outer: float) -> None:
    """bayesplot's mcmc_intervals: median, thick inner interval, thin outer interval."""
    y = np.arange(len(rows))[::-1]
    draws = np.column_stack([d for _, d in rows]) if rows else np.empty((0, 0))
    inner = np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    outer = np.quantile(draws, [(1 - prob_outer) / 2, (1 + prob_outer) / 2], axis=0)
    median = np.median(draws, axis=0)
    dense = len(rows) > _DENSE_ROWS  # many levels: thinner marks so rows stay apart
    ax.hlines(y, outer[0], outer[1], color=MID, linewidth=0.8 if dense else 1.2, zorder=2)
    ax.hlines(y, inner[0], inner[1], color=MID, linewidth=2.5 if dense else 4, zorder=3)
    ax.scatter(
        median,
        y,
        s=14 if dense else 36,
        color=LIGHTEST,
        edgecolor=DARK,
        linewidth=0.8 if dense else 1.2,
        zorder=4,
    )
    lo, hi = float(outer[0].min()), float(outer[1].max())
    if lo <= 0 <= hi:
        ax.axvline(0, color="0.6", linewidth=0.8, linestyle="--", zorder=1)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.grid(axis="x", color="0.92", zorder=0)
    _tick_labels(ax, y, [label for label, _ in rows])


def _tick_labels(ax: Axes, positions: np.ndarray, labels: Sequence[str]) -> None:
    # Hundreds of levels cannot all be labelled legibly: show every k-th one.
    step = max(1, int(np.ceil(len(labels) / _MAX_TICK_LABELS)))
    ax.set_yticks(positions[::step])
    ax.set_yticklabels(list(labels)[::step], fontsize=9 if len(labels) <= 30 else 7)


def _interval_caption(prob: float, prob_outer: float) -> str:
    return f"median, {100 * prob:g}% (thick) and {100 * prob_outer:g}% (thin) intervals"


def intervals(
    fit: Fit,
    variables: Iterable[str] | None = None,
    *,
    prob: float = 0.5,
    prob_outer: float = 0.9,
) -> Figure:
    """Posterior intervals of the coefficients (brms `mcmc_plot`): by default every parameter
    except the per-level group effects."""
    rows = _elements(fit, variables, _OVERVIEW_ROLES)
    if not rows:
        raise PlotError("no parameters to show; name some with variables=[...]")
    if arviz_compat.ARVIZ_1:
        tree = _tree({label: draws[None, :] for label, draws in rows})
        fig = arviz_compat.plot(
            "plot_forest", tree, Figure, combined=True, ci_kind="eti", ci_probs=(prob, prob_outer),
            point_estimate="median",
        )
        fig.suptitle(f"{fit.model_name}: posterior {_interval_caption(prob, prob_outer)}", fontsize=10)
        return fig
    fig = new_figure(6.5, 0.32 * len(rows) + 1.3)
    ax = fig.add_subplot()
    _interval_rows(ax, rows, prob, prob_outer)
    ax.set_title(f"{fit.model_name}: posterior {_interval_caption(prob, prob_outer)}", fontsize=10)
    return fig


def group_effects(
    fit: Fit,
    variables: Iterable[str] | None = None,
    *,
    sort: bool = True,
    prob: float = 0.5,
    prob_outer: float = 0.9,
) -> Figure:
    """One caterpillar panel per varying effect (`a[...]` over the actors), labelled with the
    groups' own labels and, with sort=True, ordered by estimate."""
    chosen = fit.posterior_vars(["group"] if variables is None else None, variables)
    chosen = [v for v in chosen if v.dims]
    if not chosen:
        raise PlotError("this model has no group-level effects")
    longest = max(len(fit.elements(v.name)) for v in chosen)
    per_row = 0.22 if longest <= _DENSE_ROWS else 0.11
    fig = new_figure(max(6.0, 3.8 * len(chosen) + 1.0), min(per_row * longest + 1.4, 16))
    for k, var in enumerate(chosen):
        ax = fig.add_subplot(1, len(chosen), k + 1)
        flat = _flat(fit, var.name)
        rows = [(label, flat[:, i]) for i, (_, label) in enumerate(fit.elements(var.name))]
        if sort:
            rows.sort(key=lambda row: float(np.median(row[1])), reverse=True)
        _interval_rows(ax, rows, prob, prob_outer)
        grouping = var.grouping or var.dims[0]
        ax.set_title(f"{var.name} by {grouping} ({len(rows)} levels)", fontsize=10)
    fig.suptitle(_interval_caption(prob, prob_outer), fontsize=9, color="0.35")
    return fig


# ------------------------------------------------------------------------------ shrinkage


def shrinkage_table(
    fit: Fit,
    data: pd.DataFrame | str | Path | None = None,
    *,
    grouping: str | None = None,
    outcome: str | None = None,
) -> pd.DataFrame:
    """What the shrinkage plot shows, one row per group (index: its label): `raw` (the group's
    mean outcome: no pooling), `estimate` (the posterior mean of epred averaged over the
    group's rows: partial pooling) and `rows`. attrs: `population` (epred with the grouping at
    its population location, averaged over rows and draws), `grand` (the mean outcome: complete
    pooling), `grouping`, `outcome`, `scale` ("mean" or "proportion" for Binomial outcomes).
    """
    from mlmdsl.posterior.predict import predict_draws, row_labels, trials

    table = _fitted_table(fit, data)
    grouping = _shrinkage_grouping(fit, grouping)
    outcome = _single_outcome(fit, outcome)
    y = pd.to_numeric(table[outcome], errors="coerce").to_numpy(dtype=float)
    n = trials(fit, table, outcome)
    scale = np.ones_like(y) if n is None else n  # Binomial: compare proportions, not counts
    partial = _expected(predict_draws(fit, table, kind="epred", outcome=outcome)[outcome])
    average = {grouping: "average"}
    population = _expected(predict_draws(fit, table, kind="epred", outcome=outcome, groups=average)[outcome])
    frame = pd.DataFrame(
        {"label": row_labels(fit, table, grouping), "y": y, "scale": scale, "estimate": partial.mean(axis=0)}
    )
    per_group = frame.groupby("label", sort=False).agg(
        y=("y", "sum"), scale=("scale", "sum"), estimate=("estimate", "sum"), rows=("y", "size")
    )
    out = pd.DataFrame(
        {
            "raw": per_group["y"] / per_group["scale"],
            "estimate": per_group["estimate"] / per_group["scale"],
            "rows": per_group["rows"],
        }
    ).rename_axis(grouping)
    out.attrs.update(
        population=float((population.mean(axis=0) / scale).mean()),
        grand=float(np.sum(y) / np.sum(scale)),
        grouping=grouping,
        outcome=outcome,
        scale="mean" if n is None else "proportion",
    )
    return out


def _expected(epred: np.ndarray) -> np.ndarray:
    """Category probabilities (draws, rows, K) of an ordered outcome -> its mean, sum k p_k."""
    if epred.ndim == 3:
        return epred @ np.arange(1, epred.shape[-1] + 1)
    return epred


def shrinkage(
    fit: Fit,
    data: pd.DataFrame | str | Path | None = None,
    *,
    grouping: str | None = None,
    outcome: str | None = None,
) -> Figure:
    """The lecture's shrinkage plot: per group, the raw mean of the outcome (no pooling)
    against the model's estimate (partial pooling), with the population mean; see
    shrinkage_table. `data` is the table the model was fitted to (default: the fit's own).
    """
    groups = shrinkage_table(fit, data, grouping=grouping, outcome=outcome)
    return _shrinkage_figure(groups)


def _shrinkage_figure(groups: pd.DataFrame) -> Figure:
    population, grand, grouping = groups.attrs["population"], groups.attrs["grand"], groups.attrs["grouping"]
    what = f"{groups.attrs['scale']} of {groups.attrs['outcome']}"
    order = np.argsort(groups["raw"].to_numpy(), kind="stable")
    raw_sorted = groups["raw"].to_numpy()[order]
    est_sorted = groups["estimate"].to_numpy()[order]
    rows = groups["rows"].to_numpy()[order]
    # Marker area grows with a group's rows: small groups are the ones pulled hardest.
    sizes = 12 + 36 * rows / max(int(rows.max()), 1)
    x = np.arange(1, len(order) + 1)
    fig = new_figure(min(max(6.0, 0.07 * len(x) + 4), 11), 4.2)
    ax = fig.add_subplot()
    ax.vlines(x, raw_sorted, est_sorted, color="0.75", linewidth=0.8, zorder=1)
    ax.scatter(
        x,
        raw_sorted,
        s=sizes,
        color=LIGHT,
        zorder=2,
        label="no pooling (raw group mean; size: rows)",
    )
    ax.scatter(
        x,
        est_sorted,
        s=18,
        facecolor="white",
        edgecolor=DARK,
        linewidth=1.1,
        zorder=3,
        label="partial pooling (model estimate)",
    )
    ax.axhline(population, color=ACCENT, linestyle="--", linewidth=1.2, label="population mean (model)")
    ax.axhline(grand, color="0.45", linestyle=":", linewidth=1, label="complete pooling (grand mean)")
    labels = [str(v) for v in groups.index.to_numpy()[order]]
    if len(labels) <= 40:
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=90 if len(labels) > 12 else 0, fontsize=8)
        ax.set_xlabel(f"{grouping}, ordered by raw mean")
    else:
        ax.set_xticks([])  # positions are ranks, not labels: too many levels to name
        ax.set_xlabel(f"{len(labels)} levels of {grouping}, ordered by raw mean")
    ax.set_ylabel(what)
    ax.set_title(f"Shrinkage: estimates per {grouping} are pulled toward the population mean", fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    ax.grid(axis="y", color="0.93", zorder=0)
    return fig


def _fitted_table(fit: Fit, data: pd.DataFrame | str | Path | None) -> pd.DataFrame:
    from mlmdsl.data import read_table

    if data is None:
        table = fit.data
        if table is None:
            raise PlotError(
                "this plot needs the data the model was fitted to: pass data=... (a DataFrame or the CSV path)"
            )
        return table
    table = read_table(data)
    obs = fit.schema.coords.get("obs")
    if obs is not None and len(table) != len(obs):
        if not pd.Index(obs).isin(table.index).all():
            raise PlotError(f"data has {len(table)} rows but the fit used {len(obs)}")
        table = table.loc[obs]  # rows dropped for missing values were not fitted
    return table


def _shrinkage_grouping(fit: Fit, grouping: str | None) -> str:
    model = fit.checked_model
    varying = []
    for p in model.params:
        if p.shape == "group" and p.role == "group" and p.domain not in varying:
            varying.append(p.domain)
    if grouping is None:
        if not varying:
            raise PlotError("the shrinkage plot needs varying effects (partial pooling) in the model")
        return str(varying[0])
    if grouping not in varying:
        raise PlotError(f"`{grouping}` has no varying effects; groupings with them: {varying}")
    return grouping


def _single_outcome(fit: Fit, outcome: str | None) -> str:
    outcomes = [lk.outcome for lk in fit.checked_model.likelihoods]
    if outcome is None:
        if len(outcomes) != 1:
            raise PlotError(f"this model has outcomes {outcomes}: choose one with outcome=...")
        return outcomes[0]
    if outcome not in outcomes:
        raise PlotError(f"`{outcome}` is not an outcome; outcomes: {outcomes}")
    return outcome


# --------------------------------------------------------------------------- group-level sds


def _scale_parameters(fit: Fit) -> list[tuple[str, np.ndarray]]:
    """Elements of the hyperparameters constrained positive (sigma_a, tau[...])."""
    positive: set[str] | None = None
    if fit.model_source is not None:
        positive = {p.name for p in fit.checked_model.params if p.lower == "0"}
    out = []
    for label, draws in _elements(fit, None, ["hyper"]):
        name = label.split("[", 1)[0]
        is_positive = name in positive if positive is not None else bool(np.all(draws >= 0))
        if is_positive:
            out.append((label, draws))
    return out


def sds(fit: Fit) -> Figure:
    """Posterior densities of the group-level standard deviations."""
    rows = _scale_parameters(fit)
    if not rows:
        raise PlotError("this model has no group-level standard deviations")
    ncols = min(3, len(rows))
    nrows = int(np.ceil(len(rows) / ncols))
    fig = new_figure(3.4 * ncols, 2.6 * nrows)
    for k, (label, draws) in enumerate(rows):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        grid, density = arviz_compat.kde(draws, bound_correction=True)
        ax.fill_between(grid, density, color=LIGHTEST, zorder=1)
        ax.plot(grid, density, color=DARK, linewidth=1.4, zorder=2)
        ax.axvline(float(np.median(draws)), color=MID, linewidth=1, linestyle="--")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.set_yticks([])
        ax.set_title(label, fontsize=10)
    fig.suptitle(f"{fit.model_name}: group-level standard deviations (dashed: median)", fontsize=10)
    return fig


# ------------------------------------------------------------------------ trace and rank


def _diagnostic_elements(fit: Fit, variables: Iterable[str] | None, max_elements: int) -> list[tuple[str, str, int]]:
    """(label, variable, element index) for the chosen parameters, at most max_elements."""
    chosen = fit.posterior_vars(_OVERVIEW_ROLES if variables is None else None, variables)
    out = []
    for var in chosen:
        for k, (idx, label) in enumerate(fit.elements(var.name)):
            if var.role == "correlation" and len(idx) == 2 and idx[1] >= idx[0]:
                continue
            out.append((label, var.name, k))
    if not out:
        raise PlotError("no parameters to show; name some with variables=[...]")
    return out[:max_elements]


def _tree(arrays: dict[str, np.ndarray]) -> Any:
    """(chain, draw) arrays as the posterior group of ArviZ data, one variable per label."""
    import xarray as xr

    data_vars = {label: (("chain", "draw"), values) for label, values in arrays.items()}
    return arviz_compat.inference_data({"posterior": xr.Dataset(data_vars)})


def _element_tree(fit: Fit, elements: Sequence[tuple[str, str, int]]) -> Any:
    return _tree({label: _chains(fit, name, k) for label, name, k in elements})


def trace(fit: Fit, variables: Iterable[str] | None = None, *, max_elements: int = 8) -> Figure:
    """Per parameter: the density of each chain (left) and the chains' traces (right)."""
    elements = _diagnostic_elements(fit, variables, max_elements)
    if arviz_compat.ARVIZ_1:
        return arviz_compat.plot("plot_trace_dist", _element_tree(fit, elements), Figure)
    fig = new_figure(9.0, 1.7 * len(elements) + 0.6)
    axes = fig.subplots(len(elements), 2, squeeze=False, gridspec_kw={"width_ratios": [1, 2.2]})
    for row, (label, name, k) in enumerate(elements):
        chains = _chains(fit, name, k)
        for c, values in enumerate(chains):
            color = CHAIN_COLORS[c % len(CHAIN_COLORS)]
            if np.ptp(values) > 0:
                grid, density = arviz_compat.kde(values)
                axes[row, 0].plot(grid, density, color=color, linewidth=1)
            axes[row, 1].plot(values, color=color, linewidth=0.5, alpha=0.7)
        axes[row, 0].set_ylabel(label, fontsize=9)
        axes[row, 0].set_yticks([])
    axes[0, 0].set_title("density per chain", fontsize=10)
    axes[0, 1].set_title("trace per chain", fontsize=10)
    axes[-1, 1].set_xlabel("draw (after warmup)")
    return fig


def rank(fit: Fit, variables: Iterable[str] | None = None, *, max_elements: int = 8, bins: int = 20) -> Figure:
    """Rank plots (Vehtari et al. 2021): the ranks of each chain's draws among all draws, in
    bins. Chains that mix well give flat, overlapping lines near the dashed uniform line.
    With ArviZ 1.x: arviz-plots' rank-ECDF plot, the same check with a simultaneous band."""
    elements = _diagnostic_elements(fit, variables, max_elements)
    if arviz_compat.ARVIZ_1:
        fig = arviz_compat.plot("plot_rank", _element_tree(fit, elements), Figure)
        fig.suptitle(f"{fit.model_name}: rank plots (fractional ranks per chain; band: uniform)", fontsize=10)
        return fig
    ncols = min(2, len(elements))
    nrows = int(np.ceil(len(elements) / ncols))
    fig = new_figure(4.6 * ncols, 2.3 * nrows + 0.5)
    for i, (label, name, k) in enumerate(elements):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        chains = _chains(fit, name, k)
        ranks = rankdata(chains.reshape(-1)).reshape(chains.shape)
        edges = np.linspace(0.5, ranks.size + 0.5, bins + 1)
        for c, chain_ranks in enumerate(ranks):
            counts, _ = np.histogram(chain_ranks, bins=edges)
            color = CHAIN_COLORS[c % len(CHAIN_COLORS)]
            ax.stairs(
                counts,
                np.arange(bins + 1),
                baseline=None,
                color=color,
                linewidth=1.2,
                label=f"chain {c}",
            )
        ax.axhline(chains.shape[1] / bins, color="0.4", linestyle="--", linewidth=0.8)
        ax.set_ylim(bottom=0)
        ax.set_xticks([])
        ax.set_title(label, fontsize=10)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=8, frameon=False)
    fig.suptitle(
        f"{fit.model_name}: rank plots (ranks of all draws in {bins} bins; dashed: uniform)",
        fontsize=10,
    )
    return fig


# ----------------------------------------------------------------------------------- PPC


def ppc(fit: Fit, outcome: str | None = None, **kwargs: Any) -> Figure:
    """Posterior predictive check of an outcome; see ppc_figure."""
    from mlmdsl.posterior.predict import PredictionError

    try:
        check = fit.ppc(outcome)
    except PredictionError as exc:
        raise PlotError(str(exc)) from None
    return ppc_figure(check, **kwargs)


# ------------------------------------------------------------------------------ dispatch

PLOTS: dict[str, Callable[..., Figure]] = {
    "intervals": intervals,
    "group_effects": group_effects,
    "shrinkage": shrinkage,
    "sds": sds,
    "trace": trace,
    "rank": rank,
    "ppc": ppc,
}


def plot(fit: Fit, kind: str = "intervals", **kwargs: Any) -> Figure:
    """One of PLOTS by name."""
    func = PLOTS.get(kind)
    if func is None:
        raise PlotError(f"unknown plot {kind!r}; choose one of {', '.join(PLOTS)}")
    return func(fit, **kwargs)


def save_all(
    fit: Fit, folder: str | Path, *, data: pd.DataFrame | str | Path | None = None
) -> tuple[list[Path], dict[str, str]]:
    """Every plot that applies to this fit as DIR/<kind>.png; returns the files written and,
    for the plots skipped, why."""
    from mlmdsl.posterior.predict import PredictionError

    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    skipped: dict[str, str] = {}
    for kind, func in PLOTS.items():
        kwargs = {"data": data} if kind == "shrinkage" and data is not None else {}
        try:
            fig = func(fit, **kwargs)
        except (PlotError, PredictionError, RuntimeError) as exc:
            skipped[kind] = str(exc)
            continue
        path = target / f"{kind}.png"
        fig.savefig(path, dpi=_DPI)
        written.append(path)
    return written, skipped
