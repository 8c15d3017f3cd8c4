"""Figures of calibration: prior predictive densities, SBC rank histograms and ECDF differences."""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import gaussian_kde

from mlmdsl.calibration.ranks import ALPHA, ecdf_band, ecdf_difference, histogram_bins
from mlmdsl.posterior.figure import ACCENT, DARK, LIGHT, LIGHTEST, Figure, new_figure
from mlmdsl.posterior.ppc_plot import ppc_figure
from mlmdsl.posterior.predict import PPC

__all__ = ["ecdf_figure", "prior_predictive_figure", "rank_histogram_figure"]


def prior_predictive_figure(
    outcome: str, simulated: np.ndarray, observed: np.ndarray | None, discrete: bool, ndraws: int = 50, seed: int = 0
) -> Figure:
    """With the observed outcome: posterior-predictive-check style (bars for discrete outcomes,
    densities otherwise) with the prior's simulations in place of the replications. Without:
    the densities of `ndraws` simulated data sets."""
    if observed is not None:
        labels = list(range(1, observed.shape[0] + 1))
        fig = ppc_figure(PPC(outcome, observed, simulated, labels, discrete), ndraws=ndraws, seed=seed)
        ax = fig.axes[0]
        ax.set_title(f"Prior predictive check: {outcome}", fontsize=10)
        # The posterior check's "replicated" data sets are simulations from the prior here.
        for artist in [*ax.lines, *ax.containers]:
            label = str(artist.get_label())
            if label.startswith("replicated"):
                artist.set_label(label.replace("replicated", "simulated from the prior", 1))
        ax.legend(fontsize=8, frameon=False)
        return fig
    fig = new_figure(6.5, 4.0)
    ax = fig.add_subplot()
    rng = np.random.default_rng(seed)
    chosen = simulated[rng.choice(simulated.shape[0], size=min(ndraws, simulated.shape[0]), replace=False)]
    lo, hi = np.quantile(chosen, [0.005, 0.995])
    grid = np.linspace(lo, hi, 256) if hi > lo else np.linspace(lo - 1, lo + 1, 256)
    for k, values in enumerate(chosen):
        density = gaussian_kde(values)(grid) if np.ptp(values) > 0 else np.zeros_like(grid)
        ax.plot(grid, density, color=LIGHT, linewidth=0.6, alpha=0.6, label="simulated" if k == 0 else None)
    ax.set_title(f"Prior predictive distribution: {outcome}", fontsize=10)
    ax.set_xlabel(outcome)
    ax.set_ylabel("density")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, frameon=False)
    return fig


def _grid(n: int) -> tuple[int, int]:
    cols = min(4, n)
    return math.ceil(n / cols), cols


def rank_histogram_figure(ranks: dict[str, np.ndarray], max_rank: int) -> Figure:
    """One histogram of ranks per quantity, with the uniform expectation and its 99% band."""
    from scipy import stats

    names = list(ranks)
    rows, cols = _grid(max(1, len(names)))
    fig = new_figure(2.6 * cols, 2.0 * rows)
    for k, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, k + 1)
        r = np.asarray(ranks[name], dtype=np.int64)
        b = histogram_bins(max_rank, r.size)
        counts = np.bincount((r * b) // (max_rank + 1), minlength=b)
        expected = r.size / b
        lo, hi = stats.binom.ppf([0.005, 0.995], r.size, 1 / b)
        ax.axhspan(lo, hi, color=LIGHTEST, alpha=0.6, linewidth=0)
        ax.bar(np.arange(b), counts, width=0.9, color=LIGHT, edgecolor=DARK, linewidth=0.4)
        ax.axhline(expected, color=DARK, linewidth=0.8)
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.tick_params(labelsize=7)
    fig.suptitle(f"SBC rank histograms (ranks 0..{max_rank}, grey: 99% range under uniformity)", fontsize=9)
    return fig


def ecdf_figure(ranks: dict[str, np.ndarray], max_rank: int, alpha: float = ALPHA) -> Figure:
    """ECDF of the scaled ranks minus the uniform CDF, inside the simultaneous 1 - alpha band."""
    names = list(ranks)
    rows, cols = _grid(max(1, len(names)))
    fig = new_figure(2.6 * cols, 2.0 * rows)
    for k, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, k + 1)
        r = np.asarray(ranks[name], dtype=np.int64)
        band = ecdf_band(r.size, max_rank, alpha)
        z, diff = ecdf_difference(r, max_rank)
        outside = (diff < band.lower) | (diff > band.upper)
        ax.fill_between(band.z, band.lower, band.upper, step="post", color=LIGHTEST, linewidth=0)
        ax.step(z, diff, where="post", color=ACCENT if outside.any() else DARK, linewidth=1.0)
        ax.axhline(0, color=LIGHT, linewidth=0.6)
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"SBC: ECDF - uniform CDF with the simultaneous {100 * (1 - alpha):g}% band", fontsize=9)
    return fig
