"""Sampler health: the numbers (divergences, tree depth, R-hat, ESS, E-BFMI) and the sentences
that say what to do about them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from mlmdsl.backends.base import SampleConfig
from mlmdsl.posterior import arviz_compat

if TYPE_CHECKING:
    from mlmdsl.posterior.fit import Fit

__all__ = ["EBFMI_MIN", "ESS_PER_CHAIN_MIN", "RHAT_MAX", "diagnostics", "warning_sentences"]

# Thresholds behind warnings(); the literature's usual ones (Vehtari et al. 2021, Betancourt).
RHAT_MAX = 1.01
ESS_PER_CHAIN_MIN = 100
EBFMI_MIN = 0.3


def diagnostics(fit: Fit) -> dict[str, Any]:
    """See Fit.diagnostics."""
    idata = fit.idata
    stats = arviz_compat.dataset(idata, "sample_stats") if arviz_compat.has_group(idata, "sample_stats") else None
    diverging = _stat(stats, "diverging")
    depth = _stat(stats, "tree_depth")
    energy = _stat(stats, "energy")
    max_depth = fit.config.max_treedepth
    table = fit.summary()
    out: dict[str, Any] = {
        "n_chains": fit.n_chains,
        "n_draws": fit.n_draws,
        "divergences": None if diverging is None else int(diverging.sum()),
        "divergences_per_chain": _per_chain(diverging),
        "max_treedepth": max_depth,
        "treedepth_hits": None if depth is None else int((depth >= max_depth).sum()),
        "treedepth_hits_per_chain": None if depth is None else _per_chain(depth >= max_depth),
        "ebfmi": None if energy is None else [float(x) for x in arviz_compat.bfmi(energy)],
        "dropped": list(fit.dropped),
    }
    out.update(_extreme(table["Rhat"], "max_rhat", largest=True))
    out.update(_extreme(table["Bulk_ESS"], "min_bulk_ess", largest=False))
    out.update(_extreme(table["Tail_ESS"], "min_tail_ess", largest=False))
    return out


def _stat(stats: xr.Dataset | None, name: str) -> np.ndarray | None:
    if stats is None or name not in stats:
        return None
    return np.asarray(stats[name].transpose("chain", "draw").values)


def _per_chain(flags: np.ndarray | None) -> list[int] | None:
    return None if flags is None else [int(x) for x in np.asarray(flags).sum(axis=1)]


def _extreme(column: pd.Series, key: str, *, largest: bool) -> dict[str, Any]:
    valid = column.dropna()
    if valid.empty:
        return {key: None, f"{key}_parameter": None}
    label = valid.astype(float).idxmax() if largest else valid.astype(float).idxmin()
    value = valid[label]
    value = float(value) if largest else int(value)
    return {key: value, f"{key}_parameter": label}


def warning_sentences(diag: dict[str, Any], config: SampleConfig) -> list[str]:
    out: list[str] = []
    n_chains = diag["n_chains"]
    if diag["divergences"]:
        target = 0.95 if config.adapt_delta < 0.95 else 0.99
        out.append(
            f"{diag['divergences']} divergent transitions after warmup: increase adapt_delta "
            f"(e.g. adapt_delta={target}) or check the centred/non-centred choice"
        )
    if diag["treedepth_hits"]:
        out.append(
            f"{diag['treedepth_hits']} transitions hit the maximum tree depth of "
            f"{diag['max_treedepth']}: an efficiency problem, not a validity one; raise "
            f"max_treedepth (e.g. max_treedepth={diag['max_treedepth'] + 2}) or reparameterise"
        )
    if diag["max_rhat"] is not None and diag["max_rhat"] > RHAT_MAX:
        out.append(
            f"R-hat reaches {diag['max_rhat']:.2f} ({diag['max_rhat_parameter']}), above "
            f"{RHAT_MAX}: the chains disagree; run longer chains (e.g. "
            f"iter_sampling={2 * config.iter_sampling}, iter_warmup={2 * config.iter_warmup}) "
            "and do not trust these estimates yet"
        )
    ess_min = ESS_PER_CHAIN_MIN * n_chains
    for key, what in (("min_bulk_ess", "Bulk"), ("min_tail_ess", "Tail")):
        if diag[key] is not None and diag[key] < ess_min:
            region = "means and medians" if what == "Bulk" else "the credible intervals"
            out.append(
                f"{what} ESS is only {diag[key]} ({diag[f'{key}_parameter']}), below "
                f"{ESS_PER_CHAIN_MIN} per chain ({ess_min}): {region} are unreliable; run "
                f"longer chains (e.g. iter_sampling={2 * config.iter_sampling})"
            )
    low = [i for i, x in enumerate(diag["ebfmi"] or []) if x < EBFMI_MIN]
    if low:
        chains = ", ".join(str(i) for i in low)
        out.append(
            f"E-BFMI below {EBFMI_MIN} in chain(s) {chains}: the sampler explores the energy "
            "distribution poorly; try the non-centred form of the varying effects or "
            "tighter priors on their scales"
        )
    if diag["dropped"]:
        out.append(
            f"the backend did not return {', '.join(diag['dropped'])}: they are missing from "
            "the results; sample with the cmdstan backend to get them"
        )
    return out
