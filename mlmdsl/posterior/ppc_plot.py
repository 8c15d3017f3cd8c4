"""The posterior predictive check's figure, drawn from a PPC (observed and replicated outcomes).

Kept apart from mlmdsl.posterior.plots so that PPC.plot() needs no more than this: predict does
not import the plots that are built on predictions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from scipy.stats import gaussian_kde

from mlmdsl.posterior import arviz_compat
from mlmdsl.posterior.figure import DARK, LIGHT, LIGHTEST, Figure, new_figure

if TYPE_CHECKING:
    from mlmdsl.posterior.predict import PPC

__all__ = ["ppc_figure"]


def ppc_figure(check: PPC, *, ndraws: int = 50, seed: int = 0, max_categories: int = 30) -> Figure:
    """Discrete outcomes with few values: bars of the observed counts per value with the
    replicated counts' median and 90% interval. Otherwise: the observed density over the
    densities of `ndraws` replicated data sets (bayesplot's ppc_dens_overlay; with ArviZ 1.x
    arviz-plots' plot_ppc_dist draws them)."""
    values = np.unique(np.concatenate([check.observed, check.replicated.reshape(-1)]))
    discrete = check.discrete and len(values) <= max_categories
    if arviz_compat.ARVIZ_1 and not discrete:
        return _arviz_densities(check, ndraws)
    fig = new_figure(6.5, 4.0)
    ax = fig.add_subplot()
    if discrete:
        _ppc_bars(ax, check, values)
    else:
        _ppc_densities(ax, check, ndraws, seed)
    ax.set_title(f"Posterior predictive check: {check.outcome}", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    return fig


def _ppc_bars(ax: Axes, check: PPC, values: np.ndarray) -> None:
    observed = np.array([(check.observed == v).sum() for v in values])
    replicated = np.stack([(check.replicated == v).sum(axis=1) for v in values], axis=1)
    lo, mid, hi = np.quantile(replicated, [0.05, 0.5, 0.95], axis=0)
    x = np.arange(len(values))
    ax.bar(x, observed, color=LIGHTEST, edgecolor=LIGHT, label="observed")
    ax.errorbar(
        x,
        mid,
        yerr=[mid - lo, hi - mid],
        fmt="o",
        color=DARK,
        markersize=5,
        capsize=3,
        label="replicated (median, 90% interval)",
    )
    ax.set_xticks(x)
    ax.set_xticklabels([f"{v:g}" for v in values])
    ax.set_xlabel(check.outcome)
    ax.set_ylabel("count")


def _ppc_densities(ax: Axes, check: PPC, ndraws: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = check.replicated.shape[0]
    chosen = check.replicated[rng.choice(n, size=min(ndraws, n), replace=False)]
    # One grid for all curves, a little beyond the data, so every density runs down to ~0
    # instead of stopping mid-air at its own sample's extremes.
    lo, hi = np.quantile(chosen, [0.001, 0.999])
    lo, hi = min(lo, check.observed.min()), max(hi, check.observed.max())
    pad = 0.1 * (hi - lo) if hi > lo else 1.0
    grid = np.linspace(lo - pad, hi + pad, 256)
    for k, values in enumerate(chosen):
        label = "replicated" if k == 0 else None
        ax.plot(grid, _density(values, grid), color=LIGHT, linewidth=0.6, alpha=0.5, label=label)
    ax.plot(grid, _density(check.observed, grid), color=DARK, linewidth=2.2, label="observed")
    ax.set_xlim(grid[0], grid[-1])
    ax.set_xlabel(check.outcome)
    ax.set_ylabel("density")
    ax.set_ylim(bottom=0)


def _density(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian kernel density (Scott's bandwidth); zero for a constant sample."""
    if np.ptp(values) == 0:
        return np.zeros_like(grid)
    return gaussian_kde(values)(grid)


def _arviz_densities(check: PPC, ndraws: int) -> Figure:
    import xarray as xr

    replicated = xr.Dataset({check.outcome: (("chain", "draw", "obs"), check.replicated[None, ...])})
    observed = xr.Dataset({check.outcome: (("obs",), check.observed)})
    tree = arviz_compat.inference_data({"posterior_predictive": replicated, "observed_data": observed})
    fig = arviz_compat.plot("plot_ppc_dist", tree, Figure, num_samples=min(ndraws, check.replicated.shape[0]))
    fig.suptitle(f"Posterior predictive check: {check.outcome}", fontsize=10)
    return fig
