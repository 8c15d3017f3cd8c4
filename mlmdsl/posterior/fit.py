"""What a user gets back after a fit: labelled summaries, long-format draws, ArviZ data.

`Fit` is built from a backend's `RawFit` (plain arrays keyed by Stan name) and the compiler's
`OutputSchema` (which Stan variable is which user-facing quantity, indexed by which labels). It
never looks at the model or the sampler, so every backend gets the same results layer.

Conventions shared by every method:

* Variables are named as the user wrote them (`OutputVar.name`), never by their Stan name;
  Stan variables that the schema does not list (non-centred `z`, helpers) are internal and
  left out everywhere.
* Elements are labelled by the original labels of their dims (`alpha[6]`, `Rho[a,b]`), not by
  Stan's 1..K positions. A dim without coords in the schema falls back to 1..K.
* A variable indexed twice by the same dim (a correlation matrix over `effect`) gets its
  second axis named `effect_2` in ArviZ and in `draws()`, because xarray needs distinct names.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, fields
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

with warnings.catch_warnings():
    # Some arviz releases announce their 1.0 rewrite on import; it is noise for our users.
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az

from mlmdsl.backends.base import RawFit, SampleConfig
from mlmdsl.compiler.schema import OutputSchema, OutputVar
from mlmdsl.posterior.imputed import with_empty_variables

if TYPE_CHECKING:
    from mlmdsl.compiler.ir import CheckedModel

__all__ = ["Fit", "element_label"]

# Stan's sampler_stats names -> ArviZ's, so az.plot_energy, az.summary etc. find them.
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
_GROUP_OF_ROLE: dict[str, str] = {
    "log_lik": "log_likelihood",
    "predictive": "posterior_predictive",
}
# Generated quantities a backend may be unable to produce (stanli drops some); a missing
# parameter, by contrast, is a compiler/backend bug and fails loudly.
_DROPPABLE_ROLES = frozenset({"log_lik", "predictive", "derived"})

DrawsGroup = Literal["posterior", "posterior_predictive", "log_likelihood"]
SaveFormat = Literal["auto", "netcdf", "npz"]

_FORMAT_TAG = "mlmdsl-fit"
_FORMAT_VERSION = 1
_MANIFEST = "fit.json"
_NETCDF_FILE = "idata.nc"
_NPZ_DIR = "idata"
_STAN_FILE = "model.stan"
_DATA_FILE = "data.csv"
_DATA_INDEX = "_mlmdsl_row"

# Thresholds behind warnings(); the literature's usual ones (Vehtari et al. 2021, Betancourt).
RHAT_MAX = 1.01
ESS_PER_CHAIN_MIN = 100
EBFMI_MIN = 0.3


def element_label(name: str, labels: Sequence[Any]) -> str:
    """`alpha` + (6,) -> `alpha[6]`; a scalar keeps its bare name."""
    if not labels:
        return name
    return f"{name}[{','.join(str(label) for label in labels)}]"


def _array_dims(var: OutputVar) -> tuple[str, ...]:
    """The var's dims with repeats made distinct (effect, effect -> effect, effect_2)."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for dim in var.dims:
        seen[dim] = seen.get(dim, 0) + 1
        out.append(dim if seen[dim] == 1 else f"{dim}_{seen[dim]}")
    return tuple(out)


def _labels_for(schema: OutputSchema, dim: str, size: int, where: str) -> list[Any]:
    labels = schema.coords.get(dim)
    if labels is None:
        return list(range(1, size + 1))
    if len(labels) != size:
        raise ValueError(
            f"{where}: dim {dim!r} has {size} entries in the draws but the schema lists "
            f"{len(labels)} labels for it; the compiler's coords and the Stan program disagree"
        )
    return list(labels)


def _quiet_diagnostic(func: Any, data: xr.Dataset, **kwargs: Any) -> xr.Dataset:
    # Constant elements (a correlation matrix's unit diagonal) give 0/0 inside arviz; their NaN
    # is the honest answer and the RuntimeWarning would only alarm users.
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return func(data, **kwargs)


def _ci_columns(prob: float) -> tuple[str, str]:
    pct = f"{100 * prob:g}"
    return f"l-{pct}% CI", f"u-{pct}% CI"


def _to_jsonable(value: Any) -> Any:
    """json.dump default: NumPy scalars/arrays and paths become plain JSON; anything else str."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


class Fit:
    """A finished fit: draws labelled the user's way, plus what is needed to report on them.

    Build one with `Fit.from_raw` (after sampling) or `Fit.load` (from `fit.save`).
    """

    def __init__(
        self,
        *,
        schema: OutputSchema,
        config: SampleConfig,
        model_name: str = "model",
        stan_code: str = "",
        data_info: dict[str, Any] | None = None,
        backend: str = "",
        elapsed_seconds: float = 0.0,
        raw: RawFit | None = None,
        observed: dict[str, np.ndarray] | None = None,
        dropped: Sequence[str] = (),
        idata: az.InferenceData | None = None,
        model_source: str | None = None,
        data: pd.DataFrame | str | Path | None = None,
    ) -> None:
        if raw is None and idata is None:
            raise ValueError("Fit needs either raw draws or an InferenceData")
        self.schema = schema
        self.config = config
        self.model_name = model_name
        self.stan_code = stan_code
        self.data_info: dict[str, Any] = dict(data_info or {})
        self.backend = backend
        self.elapsed_seconds = elapsed_seconds
        self.raw = raw  # None after load(): everything is rebuilt from idata
        self.dropped: tuple[str, ...] = tuple(dropped)  # schema names the backend did not return
        self._observed = dict(observed or {})
        # The .mlm text: predictions and plots recompile it to re-evaluate the model's statements.
        self.model_source = model_source
        # The table the model was fitted to (or where to read it), for predict()/shrinkage plots.
        self._data_source = data
        if idata is not None:
            self.__dict__["idata"] = idata  # pre-fills the cached_property

    # ----------------------------------------------------------------------------- building

    @classmethod
    def from_raw(
        cls,
        raw: RawFit,
        schema: OutputSchema,
        observed: dict[str, np.ndarray],
        *,
        model_name: str = "model",
        stan_code: str = "",
        data_info: dict[str, Any] | None = None,
        model_source: str | None = None,
        data: pd.DataFrame | str | Path | None = None,
    ) -> Fit:
        """Wrap a backend's draws. Checks them against the schema now, builds ArviZ data lazily.

        `model_source` (the .mlm text) lets predict()/plots re-evaluate the model's statements;
        `data` (the table fitted, or its path) is predict()'s default newdata and what the
        shrinkage plot averages. Both are saved with the fit.
        """
        raw = with_empty_variables(raw, schema)  # a modelled column with no missing cell
        dropped = _check_raw(raw, schema)
        observed_arrays = {k: np.atleast_1d(np.asarray(v)) for k, v in observed.items()}
        for name, arr in observed_arrays.items():
            _labels_for(schema, "obs", arr.shape[0], f"observed {name!r}")
        return cls(
            schema=schema,
            config=raw.config,
            model_name=model_name,
            stan_code=stan_code,
            data_info=data_info,
            backend=raw.backend,
            elapsed_seconds=raw.elapsed_seconds,
            raw=raw,
            observed=observed_arrays,
            dropped=dropped,
            model_source=model_source,
            data=data,
        )

    @cached_property
    def idata(self) -> az.InferenceData:
        """ArviZ InferenceData: posterior, sample_stats, log_likelihood, posterior_predictive,
        observed_data (groups without content are left out)."""
        assert self.raw is not None  # __init__ guarantees raw or a pre-filled idata
        groups: dict[str, xr.Dataset] = {"posterior": self._draws_dataset("posterior")}
        for group in ("log_likelihood", "posterior_predictive"):
            ds = self._draws_dataset(group)
            if ds.data_vars:
                groups[group] = ds
        stats = self._sample_stats_dataset()
        if stats.data_vars:
            groups["sample_stats"] = stats
        observed = self._observed_dataset()
        if observed.data_vars:
            groups["observed_data"] = observed
        attrs = {"inference_library": "mlmdsl", "model_name": self.model_name}
        for ds in groups.values():
            ds.attrs.update(attrs)
        return az.InferenceData(**groups)

    def _draws_dataset(self, group: str) -> xr.Dataset:
        assert self.raw is not None
        data_vars: dict[str, xr.DataArray] = {}
        for var in self.schema.variables:
            if _group_of(var) != group or var.stan_name not in self.raw.draws:
                continue
            data_vars[var.name] = self._data_array(var, self.raw.draws[var.stan_name])
        return xr.Dataset(data_vars)

    def _data_array(self, var: OutputVar, values: np.ndarray) -> xr.DataArray:
        n_chains, n_draws = values.shape[:2]
        dims = _array_dims(var)
        coords: dict[str, Any] = {"chain": np.arange(n_chains), "draw": np.arange(n_draws)}
        for dim, original, size in zip(dims, var.dims, values.shape[2:], strict=True):
            coords[dim] = _labels_for(self.schema, original, size, var.name)
        return xr.DataArray(values, dims=("chain", "draw", *dims), coords=coords)

    def _sample_stats_dataset(self) -> xr.Dataset:
        assert self.raw is not None
        data_vars: dict[str, tuple[tuple[str, str], np.ndarray]] = {}
        for stan_name, values in self.raw.sampler_stats.items():
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

    def _observed_dataset(self) -> xr.Dataset:
        data_vars: dict[str, xr.DataArray] = {}
        for name, arr in self._observed.items():
            dims = ("obs", *(f"{name}_dim_{k}" for k in range(1, arr.ndim)))
            coords = {"obs": _labels_for(self.schema, "obs", arr.shape[0], name)}
            data_vars[name] = xr.DataArray(arr, dims=dims, coords=coords)
        return xr.Dataset(data_vars)

    # ------------------------------------------------------------------------------ queries

    def posterior_vars(
        self, roles: Iterable[str] | None = None, variables: Iterable[str] | None = None
    ) -> list[OutputVar]:
        """Schema variables present in the posterior, in schema order, optionally filtered by
        role and by name (user name or Stan name)."""
        role_set = set(roles) if roles is not None else None
        if role_set is not None and role_set & set(_GROUP_OF_ROLE):
            raise ValueError(
                "log_lik and predictive are not posterior parameters: use "
                "fit.idata.log_likelihood / fit.idata.posterior_predictive, or "
                "fit.draws(group=...)"
            )
        present = set(self.idata.posterior.data_vars)
        chosen = [v for v in self.schema.variables if _group_of(v) == "posterior"]
        chosen = [v for v in chosen if v.name in present]
        if role_set is not None:
            chosen = [v for v in chosen if v.role in role_set]
        if variables is not None:
            wanted = list(variables)
            known = {v.name for v in chosen} | {v.stan_name for v in chosen}
            unknown = [w for w in wanted if w not in known]
            if unknown:
                raise KeyError(f"no such variable(s) {unknown}; available: {sorted(present)}")
            chosen = [v for v in chosen if v.name in wanted or v.stan_name in wanted]
        return chosen

    def elements(self, name: str) -> list[tuple[tuple[int, ...], str]]:
        """(position, row label) for every scalar element of a posterior variable, in the order
        summary() lists them: `[((0,), "alpha[6]"), ((1,), "alpha[29]"), ...]`."""
        da = self.idata.posterior[name]
        axes = [da.coords[dim].values.tolist() for dim in da.dims[2:]]
        return [
            (idx, element_label(name, [axis[i] for axis, i in zip(axes, idx, strict=True)]))
            for idx in np.ndindex(*da.shape[2:])
        ]

    @property
    def n_chains(self) -> int:
        return int(self.idata.posterior.sizes["chain"])

    @property
    def n_draws(self) -> int:
        """Draws per chain actually kept (after warmup and any thinning)."""
        return int(self.idata.posterior.sizes["draw"])

    @cached_property
    def _convergence(self) -> dict[str, xr.Dataset]:
        # R-hat and the two ESS are the slow part of a summary; computed once for all variables.
        posterior = self.idata.posterior
        return {
            "Rhat": _quiet_diagnostic(az.rhat, posterior, method="rank"),
            "Bulk_ESS": _quiet_diagnostic(az.ess, posterior, method="bulk"),
            "Tail_ESS": _quiet_diagnostic(az.ess, posterior, method="tail"),
        }

    def summary(
        self,
        prob: float = 0.95,
        *,
        roles: Iterable[str] | None = None,
        variables: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """brms-style table, one row per scalar element, labelled `alpha[6]`, `Rho[a,b]`.

        Columns: Estimate (mean), Est.Error (sd), l-/u-{prob}% CI (equal-tailed quantiles),
        Rhat (rank-normalised split R-hat), Bulk_ESS, Tail_ESS (nullable ints). Elements that
        never vary (a correlation matrix's diagonal) have NA convergence columns.
        """
        if not 0 < prob < 1:
            raise ValueError(f"prob must be between 0 and 1, got {prob}")
        lower, upper = _ci_columns(prob)
        frames = [
            self._summary_of(var.name, prob, lower, upper)
            for var in self.posterior_vars(roles, variables)
        ]
        if not frames:
            return _empty_summary(lower, upper)
        return pd.concat(frames)

    def _summary_of(self, name: str, prob: float, lower: str, upper: str) -> pd.DataFrame:
        da = self.idata.posterior[name]
        flat = np.asarray(da.values, dtype=float).reshape(da.shape[0] * da.shape[1], -1)
        tails = np.quantile(flat, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
        constant = np.ptp(flat, axis=0) == 0
        conv = {
            col: np.where(constant, np.nan, ds[name].values.reshape(-1))
            for col, ds in self._convergence.items()
        }
        frame = pd.DataFrame(
            {
                "Estimate": flat.mean(axis=0),
                "Est.Error": flat.std(axis=0, ddof=1) if flat.shape[0] > 1 else np.nan,
                lower: tails[0],
                upper: tails[1],
                "Rhat": conv["Rhat"],
                "Bulk_ESS": _as_int(conv["Bulk_ESS"]),
                "Tail_ESS": _as_int(conv["Tail_ESS"]),
            },
            index=[label for _, label in self.elements(name)],
        )
        return frame

    def draws(
        self, variables: Iterable[str] | None = None, *, group: DrawsGroup = "posterior"
    ) -> pd.DataFrame:
        """Long ("gathered") draws: columns chain, draw (0-based within chain), .draw (0-based
        across chains), parameter, one column per dim holding the element's label, value.

        When parameters with different dims are mixed, each dim column is missing (<NA>) on the
        rows of parameters that are not indexed by it, and that column uses a nullable dtype
        (Int64 / string) so integer labels stay integers. `group` selects posterior parameters
        (default), or the replicated outcomes / pointwise log-likelihood by outcome name.
        """
        if group not in self.idata.groups():
            raise KeyError(f"this fit has no {group} group; it has {self.idata.groups()}")
        dataset = self.idata[group]
        names = self._draws_names(dataset, variables, group)
        pieces = [_long_frame(name, dataset[name]) for name in names]
        if not pieces:
            return pd.DataFrame(columns=["chain", "draw", ".draw", "parameter", "value"])
        dim_cols: list[str] = []
        for piece in pieces:
            dim_cols += [c for c in piece.columns if c not in _LONG_FIXED and c not in dim_cols]
        frame = pd.concat(pieces, ignore_index=True)
        for col in dim_cols:
            if frame[col].isna().any():
                frame[col] = frame[col].convert_dtypes()
        return frame[["chain", "draw", ".draw", "parameter", *dim_cols, "value"]]

    def _draws_names(
        self, dataset: xr.Dataset, variables: Iterable[str] | None, group: str
    ) -> list[str]:
        if group == "posterior":
            return [v.name for v in self.posterior_vars(variables=variables)]
        present = list(dataset.data_vars)
        if variables is None:
            return present
        wanted = list(variables)
        unknown = [w for w in wanted if w not in present]
        if unknown:
            raise KeyError(f"no such variable(s) {unknown} in {group}; available: {present}")
        return wanted

    # -------------------------------------------------------------------------- diagnostics

    def diagnostics(self) -> dict[str, Any]:
        """Sampler health in numbers. Counts are after warmup; chains are numbered from 0.

        Keys: n_chains, n_draws, divergences, divergences_per_chain, max_treedepth,
        treedepth_hits, treedepth_hits_per_chain, max_rhat (+ max_rhat_parameter), min_bulk_ess
        (+ _parameter), min_tail_ess (+ _parameter), ebfmi (per chain), dropped. A value is
        None when the backend did not report what it needs.
        """
        stats = self.idata["sample_stats"] if "sample_stats" in self.idata.groups() else None
        diverging = _stat(stats, "diverging")
        depth = _stat(stats, "tree_depth")
        energy = _stat(stats, "energy")
        max_depth = self.config.max_treedepth
        table = self.summary()
        out: dict[str, Any] = {
            "n_chains": self.n_chains,
            "n_draws": self.n_draws,
            "divergences": None if diverging is None else int(diverging.sum()),
            "divergences_per_chain": _per_chain(diverging),
            "max_treedepth": max_depth,
            "treedepth_hits": None if depth is None else int((depth >= max_depth).sum()),
            "treedepth_hits_per_chain": None if depth is None else _per_chain(depth >= max_depth),
            "ebfmi": None if energy is None else [float(x) for x in az.bfmi(energy)],
            "dropped": list(self.dropped),
        }
        out.update(_extreme(table["Rhat"], "max_rhat", largest=True))
        out.update(_extreme(table["Bulk_ESS"], "min_bulk_ess", largest=False))
        out.update(_extreme(table["Tail_ESS"], "min_tail_ess", largest=False))
        return out

    def warnings(self) -> list[str]:
        """Problems worth acting on, one sentence each with a concrete next step; [] if none."""
        return _warning_sentences(self.diagnostics(), self.config)

    # -------------------------------------------------------------- the model and its data

    @cached_property
    def checked_model(self) -> CheckedModel:
        """The checked model, recompiled from the .mlm text the fit carries."""
        if self.model_source is None:
            raise RuntimeError(
                "this fit does not carry its .mlm model text, which predictions need; set "
                "fit.model_source = Path('model.mlm').read_text() (or pass model_source= to "
                "Fit.from_raw)"
            )
        from mlmdsl.compiler import compile_source
        from mlmdsl.compiler.diagnostics import CompileError

        compiled = compile_source(self.model_source, self.model_name)
        if compiled.model is None:
            raise CompileError(compiled.diagnostics, compiled.source, compiled.filename)
        return compiled.model

    @cached_property
    def data(self) -> pd.DataFrame | None:
        """The rows the model was fitted to (after any dropped for missing values), or None
        when the fit was built without its data."""
        source = self._data_source
        if source is None:
            return None
        from mlmdsl.data import read_table

        table = read_table(source)
        obs = self.schema.coords.get("obs")
        if obs is None or len(table) == len(obs):
            return table
        if pd.Index(obs).isin(table.index).all():
            return table.loc[obs]  # rows dropped for missing values are not part of the fit
        raise ValueError(
            f"the fit's data has {len(table)} rows but the fit used {len(obs)} observations "
            "that cannot be matched to them"
        )

    # ------------------------------------------------------------------------- predictions

    def predict(
        self,
        newdata: pd.DataFrame | dict[str, Any] | str | Path | None = None,
        *,
        kind: Literal["epred", "linpred", "response"] = "epred",
        groups: str | dict[str, str] = "existing",
        outcome: str | None = None,
        seed: int | None = None,
        summary: bool = True,
        probs: tuple[float, float] = (0.025, 0.975),
        ndraws: int | None = None,
        output: Literal["frame", "arviz"] = "frame",
    ) -> Any:
        """Predictions from the model's own statements for the rows of `newdata` (default: the
        fitted data). kind: "epred" (mean of the outcome), "linpred" (before the inverse link),
        "response" (a draw of the outcome). groups: "existing" (each row's group estimate;
        unseen labels are an error), "average" (group effects at their population location,
        brms re_formula = NA), "new" (unseen labels drawn from the population, one draw per
        label), or a dict {grouping: mode}. See mlmdsl.posterior.predict for the details."""
        from mlmdsl.posterior.predict import predict

        return predict(
            self,
            newdata,
            kind=kind,
            groups=groups,  # type: ignore[arg-type]
            outcome=outcome,
            seed=seed,
            summary=summary,
            probs=probs,
            ndraws=ndraws,
            output=output,
        )

    def ppc(self, outcome: str | None = None) -> Any:
        """Posterior predictive check data: `.observed`, `.replicated` (draws x obs),
        `.frame()` per observation, `.plot()`."""
        from mlmdsl.posterior.predict import ppc

        return ppc(self, outcome)

    def plot(self, kind: str = "intervals", **kwargs: Any) -> Any:
        """A matplotlib Figure: "intervals", "group_effects", "shrinkage", "sds", "trace",
        "rank" or "ppc" (see mlmdsl.posterior.plots)."""
        from mlmdsl.posterior.plots import plot

        return plot(self, kind, **kwargs)

    def loo(self) -> Any:
        """PSIS-LOO (ArviZ ELPDData, pointwise), outcomes summed per row."""
        from mlmdsl.posterior.compare import information_criterion

        return information_criterion(self, "loo")

    def waic(self) -> Any:
        """WAIC (ArviZ ELPDData, pointwise), outcomes summed per row."""
        from mlmdsl.posterior.compare import information_criterion

        return information_criterion(self, "waic")

    # ------------------------------------------------------------------------- persistence

    def save(self, path: str | Path, *, fmt: SaveFormat = "auto") -> Path:
        """Write the fit to a directory: fit.json (schema, config, data_info...), model.stan,
        and the InferenceData as idata.nc (netCDF, readable by az.from_netcdf) or, when no
        netCDF engine is installed (or fmt="npz"), as idata/*.npz with JSON manifests."""
        folder = Path(path)
        if folder.exists() and not folder.is_dir():
            raise FileExistsError(f"{folder} exists and is not a directory")
        folder.mkdir(parents=True, exist_ok=True)
        _remove_previous_idata(folder)
        idata_entry = _write_idata(self.idata, folder, fmt)
        (folder / _STAN_FILE).write_text(self.stan_code, encoding="utf-8")
        manifest = {
            "format": _FORMAT_TAG,
            "version": _FORMAT_VERSION,
            "idata": idata_entry,
            "model_name": self.model_name,
            "backend": self.backend,
            "elapsed_seconds": self.elapsed_seconds,
            "config": asdict(self.config),
            "schema": _schema_to_dict(self.schema),
            "data_info": self.data_info,
            "dropped": list(self.dropped),
            "model_source": self.model_source,
            "data": _write_data(self._saved_data(), folder),
        }
        text = json.dumps(manifest, indent=2, default=_to_jsonable, ensure_ascii=False)
        (folder / _MANIFEST).write_text(text, encoding="utf-8")
        return folder

    @classmethod
    def load(cls, path: str | Path) -> Fit:
        """Read a directory written by `save`; `raw` is None, everything else is as saved."""
        folder = Path(path)
        manifest_path = folder / _MANIFEST
        if not manifest_path.is_file():
            raise FileNotFoundError(f"{folder} is not a saved fit: {_MANIFEST} is missing")
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("format") != _FORMAT_TAG or manifest.get("version") != _FORMAT_VERSION:
            raise ValueError(f"{manifest_path} is not a version-{_FORMAT_VERSION} mlmdsl fit")
        stan_path = folder / _STAN_FILE
        return cls(
            schema=_schema_from_dict(manifest["schema"]),
            config=_config_from_dict(manifest["config"]),
            model_name=manifest["model_name"],
            stan_code=stan_path.read_text(encoding="utf-8") if stan_path.is_file() else "",
            data_info=manifest.get("data_info") or {},
            backend=manifest.get("backend", ""),
            elapsed_seconds=float(manifest.get("elapsed_seconds", 0.0)),
            dropped=manifest.get("dropped", ()),
            idata=_read_idata(folder, manifest["idata"]),
            model_source=manifest.get("model_source"),
            data=_read_data(folder, manifest.get("data")),
        )

    def _saved_data(self) -> pd.DataFrame | None:
        # A data file that cannot be read any more must not stop a save; the fit is saved
        # without it and predictions then need newdata.
        try:
            return self.data
        except Exception:  # noqa: BLE001 - any reader failure means "no data to save"
            return None

    # ---------------------------------------------------------------------------- display

    def report(self) -> str:
        """The brms-style text report (see mlmdsl.posterior.report.format_report)."""
        from mlmdsl.posterior.report import format_report

        return format_report(self)

    def _header(self) -> str:
        backend = f", backend {self.backend}" if self.backend else ""
        return f"Fit of {self.model_name!r}: {self.n_chains} chains x {self.n_draws} draws{backend}"

    def __repr__(self) -> str:
        from mlmdsl.posterior.report import format_table

        table = self.summary()
        shown = table.head(_REPR_ROWS)
        lines = [self._header(), format_table(shown)]
        if len(table) > len(shown):
            lines.append(f"... {len(table) - len(shown)} more rows in fit.summary()")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """Notebook view: header, the model as written, sampler problems, the parameters that
        describe the model, and the per-level effects folded away (there may be hundreds)."""
        from html import escape

        from mlmdsl.posterior.report import format_cells

        table = self.summary()
        group_labels = [
            label for var in self.posterior_vars(["group"]) for _, label in self.elements(var.name)
        ]
        main = table.drop(index=group_labels)
        parts = [f"<p><b>{escape(self._header())}</b>{escape(self._data_note())}</p>"]
        if self.schema.statements:
            statements = "\n".join(self.schema.statements)
            parts.append(f"<pre style='margin:0.3em 0'>{escape(statements)}</pre>")
        parts.append(_html_warnings(self.warnings()))
        parts.append(format_cells(main.head(_REPR_ROWS)).to_html())
        if len(main) > _REPR_ROWS:
            parts.append(f"<p>... {len(main) - _REPR_ROWS} more rows in <code>fit.summary()</code></p>")
        if group_labels:
            groups = format_cells(table.loc[group_labels].head(_REPR_GROUP_ROWS)).to_html()
            more = len(group_labels) - _REPR_GROUP_ROWS
            tail = f"<p>... {more} more in <code>fit.summary()</code></p>" if more > 0 else ""
            parts.append(
                f"<details><summary>{len(group_labels)} group-level effects</summary>"
                f"{groups}{tail}</details>"
            )
        parts.append(
            "<p style='color:#666'>More: <code>fit.summary()</code>, <code>fit.report()</code>, "
            "<code>fit.predict(newdata)</code>, <code>fit.plot(\"intervals\")</code>, "
            "<code>fit.ppc().plot()</code>, <code>fit.loo()</code></p>"
        )
        return "\n".join(p for p in parts if p)

    def _data_note(self) -> str:
        source = self.data_info.get("source")
        n_obs = len(self.schema.coords.get("obs", ()))
        if source and n_obs:
            return f" on {source} (N = {n_obs})"
        return f" (N = {n_obs})" if n_obs else ""


_REPR_ROWS = 30
_REPR_GROUP_ROWS = 200


def _html_warnings(sentences: list[str]) -> str:
    from html import escape

    if not sentences:
        return "<p style='color:#2e7d32;margin:0.3em 0'>Sampler diagnostics: no problems detected.</p>"
    items = "".join(f"<li>{escape(s)}</li>" for s in sentences)
    return f"<ul style='color:#b71c1c;margin:0.3em 0'>{items}</ul>"
_LONG_FIXED = ("chain", "draw", ".draw", "parameter", "value")


def _group_of(var: OutputVar) -> str:
    return _GROUP_OF_ROLE.get(var.role, "posterior")


def _check_raw(raw: RawFit, schema: OutputSchema) -> tuple[str, ...]:
    """Fail early on draws that do not match the schema; return generated quantities the
    backend did not produce (reported by warnings(), not fatal)."""
    dropped: list[str] = []
    seen: set[tuple[str, str]] = set()
    for var in schema.variables:
        if (_group_of(var), var.name) in seen:
            raise ValueError(f"two schema variables are both called {var.name!r}")
        seen.add((_group_of(var), var.name))
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
            _labels_for(schema, dim, size, var.name)
    return tuple(dropped)


def _as_int(values: np.ndarray) -> pd.api.extensions.ExtensionArray:
    # ESS is reported as a whole number (brms does too); NaN must survive as <NA>.
    rounded = np.round(values)
    return pd.array([None if np.isnan(v) else int(v) for v in rounded], dtype="Int64")


def _empty_summary(lower: str, upper: str) -> pd.DataFrame:
    columns = ["Estimate", "Est.Error", lower, upper, "Rhat", "Bulk_ESS", "Tail_ESS"]
    return pd.DataFrame(columns=columns)


def _long_frame(name: str, da: xr.DataArray) -> pd.DataFrame:
    n_chains, n_draws = da.shape[:2]
    n_elements = int(np.prod(da.shape[2:], dtype=int))
    per_element = n_chains * n_draws
    # Element-major order, like tidybayes::gather_draws: all draws of alpha[6], then alpha[29].
    values = np.asarray(da.values).reshape(per_element, n_elements).T.reshape(-1)
    chain = np.tile(np.repeat(np.arange(n_chains), n_draws), n_elements)
    draw = np.tile(np.arange(n_draws), n_chains * n_elements)
    columns: dict[str, Any] = {
        "chain": chain,
        "draw": draw,
        ".draw": chain * n_draws + draw,
        "parameter": np.full(values.shape, name, dtype=object),
    }
    positions = np.unravel_index(np.arange(n_elements), da.shape[2:]) if da.ndim > 2 else ()
    for dim, pos in zip(da.dims[2:], positions, strict=True):
        labels = np.asarray(da.coords[dim].values)
        columns[dim] = np.repeat(labels[pos], per_element)
    columns["value"] = values
    return pd.DataFrame(columns)


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


def _warning_sentences(diag: dict[str, Any], config: SampleConfig) -> list[str]:
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


# ------------------------------------------------------------------------------ persistence


def _schema_to_dict(schema: OutputSchema) -> dict[str, Any]:
    return {
        "variables": [asdict(v) for v in schema.variables],
        "coords": schema.coords,
        "groupings": schema.groupings,
        "outcomes": list(schema.outcomes),
        "statements": list(schema.statements),
    }


def _schema_from_dict(data: dict[str, Any]) -> OutputSchema:
    variables = tuple(
        OutputVar(**{**v, "dims": tuple(v["dims"])}) for v in data.get("variables", [])
    )
    return OutputSchema(
        variables=variables,
        coords={k: list(v) for k, v in data.get("coords", {}).items()},
        groupings={k: int(v) for k, v in data.get("groupings", {}).items()},
        outcomes=tuple(data.get("outcomes", ())),
        statements=tuple(data.get("statements", ())),
    )


def _config_from_dict(data: dict[str, Any]) -> SampleConfig:
    known = {f.name for f in fields(SampleConfig)}
    values = {k: v for k, v in data.items() if k in known}
    if values.get("output_dir") is not None:
        values["output_dir"] = Path(values["output_dir"])
    return SampleConfig(**values)


def _write_data(table: pd.DataFrame | None, folder: Path) -> dict[str, Any] | None:
    """The fitted rows as CSV; text columns are listed so that labels such as "007" stay text."""
    (folder / _DATA_FILE).unlink(missing_ok=True)
    if table is None:
        return None
    table.to_csv(folder / _DATA_FILE, index=True, index_label=_DATA_INDEX)
    text = [str(c) for c in table.columns if not pd.api.types.is_numeric_dtype(table[c].dtype)
            and not pd.api.types.is_bool_dtype(table[c].dtype)]
    return {"file": _DATA_FILE, "text_columns": text}


def _read_data(folder: Path, entry: dict[str, Any] | None) -> pd.DataFrame | None:
    if not entry or not (folder / entry["file"]).is_file():
        return None
    dtypes = dict.fromkeys(entry.get("text_columns", []), str)
    table = pd.read_csv(folder / entry["file"], dtype=dtypes, keep_default_na=True)  # type: ignore[arg-type]
    return table.set_index(_DATA_INDEX).rename_axis(None)


def _netcdf_engine() -> str | None:
    # arviz writes one netCDF group per InferenceData group; only these two engines do groups.
    for module, engine in (("h5netcdf", "h5netcdf"), ("netCDF4", "netcdf4")):
        try:
            __import__(module)
        except ImportError:
            continue
        return engine
    return None


def _remove_previous_idata(folder: Path) -> None:
    # A re-save may switch format; a stale copy of the other one would be confusing.
    (folder / _NETCDF_FILE).unlink(missing_ok=True)
    if (folder / _NPZ_DIR).is_dir():
        shutil.rmtree(folder / _NPZ_DIR)


def _write_idata(idata: az.InferenceData, folder: Path, fmt: SaveFormat) -> dict[str, Any]:
    engine = _netcdf_engine() if fmt in ("auto", "netcdf") else None
    if engine is not None:
        idata.to_netcdf(str(folder / _NETCDF_FILE), engine=engine)
        return {"format": "netcdf", "file": _NETCDF_FILE, "engine": engine}
    if fmt == "netcdf":
        raise RuntimeError("no netCDF engine installed: pip install h5netcdf, or use fmt='npz'")
    _write_npz(idata, folder / _NPZ_DIR)
    return {"format": "npz", "dir": _NPZ_DIR}


def _read_idata(folder: Path, entry: dict[str, Any]) -> az.InferenceData:
    if entry["format"] == "netcdf":
        # Eager so the file is closed again: a lazily opened file blocks re-saving in place.
        with az.rc_context({"data.load": "eager"}):
            return az.from_netcdf(str(folder / entry["file"]), engine=entry["engine"])
    if entry["format"] == "npz":
        return _read_npz(folder / entry["dir"])
    raise ValueError(f"unknown idata format {entry['format']!r}")


def _write_npz(idata: az.InferenceData, target: Path) -> None:
    """One .npz of arrays + one .json of names/dims/coords per group; no pickles."""
    target.mkdir(parents=True)
    for group in idata.groups():
        ds: xr.Dataset = idata[group]
        names = list(ds.data_vars)
        # Array keys are positional: user names may be Greek or clash with npz's own naming.
        np.savez(target / f"{group}.npz", **{f"v{i}": ds[n].values for i, n in enumerate(names)})
        meta = {
            "variables": [
                {"name": n, "key": f"v{i}", "dims": list(ds[n].dims)} for i, n in enumerate(names)
            ],
            "coords": {str(d): ds.coords[d].values.tolist() for d in ds.coords},
            "attrs": dict(ds.attrs),
        }
        text = json.dumps(meta, default=_to_jsonable, ensure_ascii=False)
        (target / f"{group}.json").write_text(text, encoding="utf-8")


def _read_npz(source: Path) -> az.InferenceData:
    groups: dict[str, xr.Dataset] = {}
    for meta_path in sorted(source.glob("*.json")):
        group = meta_path.stem
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        with np.load(source / f"{group}.npz", allow_pickle=False) as arrays:
            data_vars = {v["name"]: (tuple(v["dims"]), arrays[v["key"]]) for v in meta["variables"]}
        groups[group] = xr.Dataset(data_vars, coords=meta["coords"], attrs=meta["attrs"])
    return az.InferenceData(**groups)
