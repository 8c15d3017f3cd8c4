"""What a user gets back after a fit: labelled summaries, long-format draws, ArviZ data.

`Fit` is built from a backend's `RawFit` (plain arrays keyed by Stan name) and the compiler's
`OutputSchema` (which Stan variable is which user-facing quantity, indexed by which labels). It
never looks at the model or the sampler, so every backend gets the same results layer.

`Fit` is the user's object; its methods are thin delegates to modules with one job each:
mlmdsl.posterior.idata (draws -> ArviZ data, and the naming conventions), summary (tables),
diagnostics (sampler health), storage (save/load), predict, plots, compare and report.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from mlmdsl.backends.base import RawFit, SampleConfig
from mlmdsl.compiler.schema import OutputSchema, OutputVar
from mlmdsl.posterior import arviz_compat
from mlmdsl.posterior.diagnostics import diagnostics, warning_sentences
from mlmdsl.posterior.idata import GROUP_OF_ROLE, build_idata, check_raw, element_label, group_of, labels_for
from mlmdsl.posterior.imputed import with_empty_variables
from mlmdsl.posterior.summary import DrawsGroup, convergence, draws_frame, summary_table

if TYPE_CHECKING:
    from mlmdsl.compiler.ir import CheckedModel
    from mlmdsl.posterior.storage import SaveFormat

__all__ = ["Fit", "element_label"]


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
        idata: Any = None,
        model_source: str | None = None,
        data: pd.DataFrame | str | Path | None = None,
    ) -> None:
        if raw is None and idata is None:
            raise ValueError("Fit needs either raw draws or ArviZ data (idata)")
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
        dropped = check_raw(raw, schema)
        observed_arrays = {k: np.atleast_1d(np.asarray(v)) for k, v in observed.items()}
        for name, arr in observed_arrays.items():
            labels_for(schema, "obs", arr.shape[0], f"observed {name!r}")
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
    def idata(self) -> Any:
        """ArviZ data: posterior, sample_stats, log_likelihood, posterior_predictive,
        observed_data (groups without content are left out). An InferenceData with ArviZ 0.x,
        an xarray DataTree with ArviZ 1.x."""
        assert self.raw is not None  # __init__ guarantees raw or a pre-filled idata
        return build_idata(self.raw, self.schema, self._observed, self.model_name)

    # ------------------------------------------------------------------------------ queries

    def posterior_vars(
        self, roles: Iterable[str] | None = None, variables: Iterable[str] | None = None
    ) -> list[OutputVar]:
        """Schema variables present in the posterior, in schema order, optionally filtered by
        role and by name (user name or Stan name)."""
        role_set = set(roles) if roles is not None else None
        if role_set is not None and role_set & set(GROUP_OF_ROLE):
            raise ValueError(
                "log_lik and predictive are not posterior parameters: use "
                "fit.idata.log_likelihood / fit.idata.posterior_predictive, or "
                "fit.draws(group=...)"
            )
        present = set(self.idata.posterior.data_vars)
        chosen = [v for v in self.schema.variables if group_of(v) == "posterior"]
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
        return convergence(arviz_compat.dataset(self.idata, "posterior"))

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
        never vary (a correlation matrix's diagonal) have NA convergence columns; with a single
        chain Rhat is NA (there is no other chain to compare with).
        """
        return summary_table(self, prob, roles, variables)

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
        return draws_frame(self, variables, group)

    # -------------------------------------------------------------------------- diagnostics

    def diagnostics(self) -> dict[str, Any]:
        """Sampler health in numbers. Counts are after warmup; chains are numbered from 0.

        Keys: n_chains, n_draws, divergences, divergences_per_chain, max_treedepth,
        treedepth_hits, treedepth_hits_per_chain, max_rhat (+ max_rhat_parameter), min_bulk_ess
        (+ _parameter), min_tail_ess (+ _parameter), ebfmi (per chain), dropped. A value is
        None when the backend did not report what it needs.
        """
        return diagnostics(self)

    def warnings(self) -> list[str]:
        """Problems worth acting on, one sentence each with a concrete next step; [] if none."""
        return warning_sentences(self.diagnostics(), self.config)

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

        # Against the columns it read: a group-level line on a column's name is a modelled column.
        compiled = compile_source(self.model_source, self.model_name, columns=self.data_info.get("columns"))
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
        """WAIC (ArviZ ELPDData, pointwise), outcomes summed per row. ArviZ 1.x removed WAIC:
        there this raises mlmdsl.posterior.compare.ComparisonError saying so."""
        from mlmdsl.posterior.compare import information_criterion

        return information_criterion(self, "waic")

    # ------------------------------------------------------------------------- persistence

    def save(self, path: str | Path, *, fmt: SaveFormat = "auto") -> Path:
        """Write the fit to a directory: fit.json (schema, config, data_info...), model.stan,
        and the ArviZ data as idata.nc (netCDF, readable by ArviZ) or, when no netCDF engine is
        installed (or fmt="npz"), as idata/*.npz with JSON manifests."""
        from mlmdsl.posterior.storage import save

        return save(self, path, fmt)

    @classmethod
    def load(cls, path: str | Path) -> Fit:
        """Read a directory written by `save`; `raw` is None, everything else is as saved."""
        from mlmdsl.posterior.storage import load_parts

        return cls(**load_parts(path))

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
