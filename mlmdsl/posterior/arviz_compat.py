"""Everything mlmdsl asks of ArviZ, for both of its lines: 0.x (InferenceData, Python 3.11) and
1.x (xarray's DataTree, split into arviz-base / arviz-stats / arviz-plots, Python >= 3.12).

The rest of the package never imports arviz itself: it builds groups of xarray Datasets and asks
this module to hold them (`inference_data`), to list and read them (`group_names`, `dataset`),
for diagnostics (`rhat`, `ess`, `bfmi`), information criteria (`loo`, `waic`), densities
(`kde`) and files (`to_netcdf`, `from_netcdf`). ArviZ is imported on first use, and on 1.x only
the part a step needs (arviz-stats for numbers, arviz-plots for figures), so that a fit's report
does not pay for the plotting stack.
"""

from __future__ import annotations

import importlib
import warnings
from functools import cache
from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import xarray as xr

__all__ = [
    "ARVIZ_1",
    "ArvizUnsupported",
    "arviz_version",
    "bfmi",
    "dataset",
    "elpd_pointwise",
    "ess",
    "from_netcdf",
    "group_names",
    "has_group",
    "inference_data",
    "kde",
    "loo",
    "rhat",
    "to_netcdf",
    "waic",
]


class ArvizUnsupported(RuntimeError):
    """The installed ArviZ does not offer this (WAIC on ArviZ 1.x)."""


def arviz_version() -> str:
    # From the package metadata: knowing the line must not cost the import.
    try:
        return metadata.version("arviz")
    except metadata.PackageNotFoundError:  # arviz-base/-stats without the meta package
        return metadata.version("arviz-base")


ARVIZ_1 = int(arviz_version().split(".")[0]) >= 1

WAIC_REMOVED = (
    f"WAIC is not available with ArviZ {arviz_version()}: ArviZ 1.0 removed `waic` (PSIS-LOO "
    "is the better estimate of the same quantity); use the criterion loo, or install arviz<1 "
    "(on Python 3.11)"
)


@cache
def _module(name: str) -> Any:
    with warnings.catch_warnings():
        # Some 0.x releases announce the 1.0 rewrite on import; noise for mlmdsl's users.
        warnings.simplefilter("ignore", FutureWarning)
        return importlib.import_module(name)


def _stats() -> Any:
    """ArviZ's statistics: arviz_stats on 1.x, the (whole) arviz package on 0.x."""
    return _module("arviz_stats" if ARVIZ_1 else "arviz")


def _base() -> Any:
    return _module("arviz_base" if ARVIZ_1 else "arviz")


def plots_module() -> Any:
    """arviz-plots (1.x only; 0.x's plots are drawn by mlmdsl itself)."""
    if not ARVIZ_1:
        raise ArvizUnsupported("arviz-plots needs ArviZ 1.x")
    return _module("arviz_plots")


# ------------------------------------------------------------------------------ the container


def inference_data(groups: dict[str, xr.Dataset]) -> Any:
    """The ArviZ container of these groups: InferenceData (0.x) or DataTree (1.x)."""
    if ARVIZ_1:
        import xarray as xr

        return xr.DataTree.from_dict(dict(groups))
    return _module("arviz").InferenceData(**groups)


def group_names(idata: Any) -> list[str]:
    """The groups that hold data: ["posterior", "sample_stats", ...]."""
    if hasattr(idata, "children"):  # a DataTree
        return list(idata.children)
    return list(idata.groups())


def has_group(idata: Any, name: str) -> bool:
    return name in group_names(idata)


def dataset(idata: Any, name: str) -> xr.Dataset:
    """One group as a plain xarray Dataset."""
    node = idata[name]
    return node.to_dataset() if hasattr(node, "to_dataset") and hasattr(node, "children") else node


# ------------------------------------------------------------------------------- diagnostics


def _quiet(func: Any, *args: Any, **kwargs: Any) -> Any:
    import numpy as np

    # Constant elements (a correlation matrix's unit diagonal) give 0/0 inside ArviZ; their NaN
    # is the honest answer and the RuntimeWarning would only alarm users.
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return func(*args, **kwargs)


def rhat(posterior: xr.Dataset) -> xr.Dataset:
    """Rank-normalised split R-hat per element (Vehtari et al. 2021). With a single chain it is
    NaN: there is nothing to compare the chain with (ArviZ 0.x would warn about the shape)."""
    if posterior.sizes.get("chain", 1) < 2:
        return _nan_like(posterior)
    return _quiet(_stats().rhat, posterior, method="rank")


def ess(posterior: xr.Dataset, method: str) -> xr.Dataset:
    """Bulk or tail effective sample size per element."""
    return _quiet(_stats().ess, posterior, method=method)


def _nan_like(posterior: xr.Dataset) -> xr.Dataset:
    sample = [d for d in ("chain", "draw") if d in posterior.dims]
    return (posterior.isel({d: 0 for d in sample}, drop=True) * float("nan")).astype(float)


def bfmi(energy: np.ndarray) -> np.ndarray:
    """E-BFMI per chain from a (chain, draw) array of the sampler's energy."""
    import numpy as np

    if ARVIZ_1:
        import xarray as xr

        tree = xr.DataTree.from_dict({"sample_stats": xr.Dataset({"energy": (("chain", "draw"), energy)})})
        result = _quiet(_stats().bfmi, tree)
        values = result["energy"] if "energy" in result else result
        return np.asarray(getattr(values, "values", values), dtype=float).reshape(-1)
    return np.asarray(_quiet(_module("arviz").bfmi, energy), dtype=float)


def kde(values: np.ndarray, *, bound_correction: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A kernel density estimate of one sample: (grid, density)."""
    import numpy as np

    if ARVIZ_1:
        import xarray as xr

        array = xr.DataArray(np.asarray(values, dtype=float), dims=["draw"])
        result = _stats().kde(array, dim="draw", bound_correction=bound_correction)
        return np.asarray(result.sel(plot_axis="x").values), np.asarray(result.sel(plot_axis="y").values)
    return _module("arviz").kde(values, bound_correction=bound_correction)


# ------------------------------------------------------------------------ information criteria


def loo(idata: Any, var_name: str) -> Any:
    """PSIS-LOO with pointwise values, as ArviZ's ELPDData."""
    return _stats().loo(idata, pointwise=True, var_name=var_name)


def waic(idata: Any, var_name: str) -> Any:
    """WAIC with pointwise values (ArviZ 0.x); ArvizUnsupported on 1.x, which removed it."""
    if ARVIZ_1:
        raise ArvizUnsupported(WAIC_REMOVED)
    return _module("arviz").waic(idata, pointwise=True, var_name=var_name)


def elpd_pointwise(elpd_data: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """(elpd_i, pareto_k or None) of an ELPDData from either line (0.x names them loo_i /
    waic_i, 1.x elpd_i)."""
    import numpy as np

    for name in ("elpd_i", "loo_i", "waic_i"):
        values = getattr(elpd_data, name, None)
        if values is None and hasattr(elpd_data, "get"):
            values = elpd_data.get(name)
        if values is not None:
            break
    else:
        raise KeyError("ArviZ returned no pointwise values")
    k = getattr(elpd_data, "pareto_k", None)
    if k is None and hasattr(elpd_data, "get"):
        k = elpd_data.get("pareto_k")
    as_array = np.asarray(getattr(values, "values", values), dtype=float)
    return as_array, None if k is None else np.asarray(getattr(k, "values", k), dtype=float)


# ------------------------------------------------------------------------------------- files


def to_netcdf(idata: Any, path: str, engine: str) -> None:
    idata.to_netcdf(path, engine=engine)


def from_netcdf(path: str, engine: str) -> Any:
    """Read a saved fit's netCDF file into memory (so the file is closed again: a lazily opened
    file blocks re-saving in place). Files from either line read into the installed one."""
    if ARVIZ_1:
        import xarray as xr

        with xr.open_datatree(path, engine=engine) as tree:
            return tree.load().copy()
    az = _module("arviz")
    with az.rc_context({"data.load": "eager"}):
        return az.from_netcdf(path, engine=engine)


# ------------------------------------------------------------------------------------- plots


def plot(function: str, data: Any, figure_class: type, **kwargs: Any) -> Any:
    """Draw with arviz-plots' `function` (plot_trace_dist, plot_rank, plot_forest,
    plot_ppc_dist) on matplotlib, as a figure of `figure_class`.

    arviz-plots makes its figures through pyplot; the figure is closed there at once, so pyplot
    keeps no reference (no leak over many plots) and a notebook shows the returned figure once.
    """
    azp = plots_module()
    import matplotlib.pyplot as plt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # layout notes about tight figures
        collection = getattr(azp, function)(
            data, backend="matplotlib", figure_kwargs={"FigureClass": figure_class}, **kwargs
        )
    figure = collection.viz["figure"].item()
    plt.close(figure)
    return figure
