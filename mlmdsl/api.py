"""The Python API: `Model.from_file(...)`, `model.stan_code()`, `model.fit(data, ...)`.

Glue only: compile (compiler.py), bind data (data.py), sample (backends), label (results.py).
Heavy imports (pandas, samplers, ArviZ) happen when a fit is asked for, not on import.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlmdsl.compiler import PARAMETERIZATIONS, Compiled, compile_source
from mlmdsl.compiler.diagnostics import CompileError, Diagnostic, render_text
from mlmdsl.compiler.schema import OutputSchema

if TYPE_CHECKING:
    import pandas as pd

    from mlmdsl.calibration.prior import PriorPredictive
    from mlmdsl.data import BoundData
    from mlmdsl.posterior.fit import Fit


def _check_parameterization(value: str) -> None:
    if value not in PARAMETERIZATIONS:
        raise ValueError(f"parameterization must be one of {', '.join(map(repr, PARAMETERIZATIONS))}, not {value!r}")


class DataWarning(UserWarning):
    """Something binding did to the data on the user's behalf (e.g. rows dropped)."""


class Model:
    """A checked .mlm model. Construct with `Model.from_file` or `Model.from_string`."""

    def __init__(self, compiled: Compiled, parameterization: str = "auto") -> None:
        if not compiled.ok:
            raise CompileError(compiled.diagnostics, compiled.source, compiled.filename)
        _check_parameterization(parameterization)
        self._compiled = compiled
        # "auto" is decided per data set, in fit(); until then the program is the default's.
        self._parameterization = parameterization

    @classmethod
    def from_string(
        cls,
        text: str,
        name: str = "<model>",
        *,
        generated_quantities: bool = True,
        parameterization: str = "auto",
    ) -> Model:
        """`generated_quantities=False` leaves out log_lik and replicated outcomes, which grow
        with the data (for large data sets when LOO and PPC are not needed).

        `parameterization` is the form of the varying effects that no line's `@centered` /
        `@noncentered` (nor the file's directive) decides: "auto" (the default: chosen per
        statement from the data when fitting; without data, as in `stan_code()`, the program is
        the non-centred one), "noncentered" or "centered"."""
        _check_parameterization(parameterization)
        compiled = compile_source(
            text,
            name,
            generated_quantities=generated_quantities,
            default_centered=parameterization == "centered",
        )
        return cls(compiled, parameterization)

    @classmethod
    def from_file(
        cls, path: str | Path, *, generated_quantities: bool = True, parameterization: str = "auto"
    ) -> Model:
        path = Path(path)
        return cls.from_string(
            path.read_text(encoding="utf-8"),
            str(path),
            generated_quantities=generated_quantities,
            parameterization=parameterization,
        )

    def for_data(
        self,
        data: pd.DataFrame | str | Path | BoundData,
        parameterization: str | None = None,
        *,
        cells: bool = False,
        threads: bool = False,
        marginalize: bool = False,
    ) -> Model:
        """This model with its parameterization decided for `data`: with "auto", each varying
        effect is centred or non-centred by the expected shrinkage of its levels (see
        mlmdsl.data.parameterize), and the N600 notes of the result say which and why. "centered" and
        "noncentered" need no data. Lines with `@centered`/`@noncentered` keep their form.
        `cells=True` writes the likelihood over cells of identical rows (mlmdsl.data.cells);
        the Stan data must then include the cells' arrays. `marginalize=True` integrates a
        Normal varying intercept out of a Normal likelihood where the model allows
        (mlmdsl.compiler.lower.marginal) and draws it in generated quantities."""
        from mlmdsl.data import BoundData

        chosen = parameterization or self._parameterization
        _check_parameterization(chosen)
        if not isinstance(data, BoundData):
            model, data = self._for_table(data)  # compiled against the table's columns
            if model is not self:
                return model.for_data(
                    model._bind(data, False), parameterization, cells=cells, threads=threads, marginalize=marginalize
                )
        compiled = self._compiled
        if chosen != "auto":
            if chosen == self._parameterization and not cells and not threads and not marginalize:
                return self
            options = {"cells": cells, "threads": threads, "marginalize": marginalize}
            return Model(self._recompile(default_centered=chosen == "centered", **options), chosen)
        from mlmdsl.data.parameterize import choose

        bound = data if isinstance(data, BoundData) else self.bind(data)
        choices = choose(compiled.model, bound)  # type: ignore[arg-type]
        recompiled = self._recompile(
            centered={n: c.centered for n, c in choices.items()},
            reasons={n: c.reason for n, c in choices.items()},
            cells=cells,
            threads=threads,
            marginalize=marginalize,
        )
        return Model(recompiled, "auto")

    def _recompile(self, **options: Any) -> Compiled:
        c = self._compiled
        return compile_source(
            c.source, c.filename, generated_quantities=c.generated_quantities, columns=c.columns, **options
        )

    def _for_table(self, data: Any) -> tuple[Model, Any]:
        """This model compiled against the table's columns (a group-level line on a column's
        name models that column: mlmdsl.data.modelled.for_columns), and the data with its table
        read, so it is read once. A table that cannot be read is left to bind() to report."""
        from mlmdsl.data import DataError, read_table
        from mlmdsl.data.matrices import TABLE_KEY, split_data
        from mlmdsl.data.modelled import for_columns

        table, supplied = split_data(data)
        try:
            df = read_table(table)
        except DataError:
            return self, data
        compiled = for_columns(self._compiled, df.columns, default_centered=self._parameterization == "centered")
        model = self if compiled is self._compiled else Model(compiled, self._parameterization)
        return model, ({TABLE_KEY: df, **supplied} if supplied else df)

    # ---- what the compiler found ---------------------------------------------------------
    @property
    def name(self) -> str:
        return Path(self._compiled.filename).stem if self._compiled.filename != "<model>" else "model"

    @property
    def source(self) -> str:
        return self._compiled.source

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """Warnings and notes (errors would have stopped construction)."""
        return self._compiled.diagnostics

    @property
    def checked(self):
        return self._compiled.model

    def stan_code(self) -> str:
        assert self._compiled.stan_code is not None
        return self._compiled.stan_code

    def parameterization(self) -> dict[str, str]:
        """Group-level parameter -> "non-centred" or "centred", as the compiler chose, or
        "integrated out" (compiled with marginalize=True, compiler/lower/marginal.py)."""
        model = self._compiled.model
        assert model is not None
        out = self._marginal()
        return {
            p.name: "integrated out" if p.name == out else "non-centred" if p.is_noncentered else "centred"
            for p in model.params
            if p.shape == "group"
        }

    def _marginal(self) -> str | None:
        """The varying intercept integrated out of the likelihood, if any."""
        return self._compiled.lowered.marginal if self._compiled.lowered else None

    def parameterization_notes(self) -> dict[str, str]:
        """Group-level statement (its first effect) -> the N600 note saying its form and why."""
        model = self._compiled.model
        assert model is not None
        by_line = {p.line: p.name for p in model.params if p.shape == "group"}
        notes = {
            by_line[d.span.line]: d.message
            for d in self.diagnostics
            if d.code == "N600" and d.span.line in by_line
        }
        if (out := self._marginal()) is not None:  # compiler/lower/marginal.py
            p = model.param(out)
            lk = model.likelihoods[0]
            notes[by_line[p.line]] = (
                f"`{out}` is integrated out of line {lk.stmt.span.line}'s likelihood and drawn from its exact "
                "conditional posterior: the same posterior, no funnel (--no-marginalize samples it as written)"
            )
        # The mean of a zero-mean varying intercept sampled apart (compiler/lower/shifts.py)
        for sh in self._compiled.lowered.shifts if self._compiled.lowered else ():
            line = next(p.line for p in model.params if p.name == sh.effect)
            name = by_line.get(line, sh.effect)
            moved = " and ".join(f"`{n}`" for n in (sh.anchor, sh.located) if n)
            shift = f"the mean of `{sh.effect}` is sampled apart from {moved}, which move with it in the likelihood"
            notes[name] = f"{notes[name]}; {shift}" if name in notes else shift
        return notes

    def check(self, data: pd.DataFrame | str | Path | None = None, *, drop_missing: bool = False) -> list[Diagnostic]:
        """All diagnostics; with data, also the data's (missing columns, bad outcome values...)."""
        if data is None:
            return list(self.diagnostics)
        from mlmdsl.data import DataError, bind

        try:
            model, data = self._for_table(data)
        except CompileError as e:  # compiled against the table's columns, the model has errors
            return list(e.diagnostics)
        diags = list(model.diagnostics)
        try:
            diags += bind(model._compiled.model, data, drop_missing=drop_missing).diagnostics
        except DataError as e:
            diags += e.diagnostics
        return diags

    def bind(self, data: pd.DataFrame | str | Path, *, drop_missing: bool = False) -> BoundData:
        """The Stan data for `data`, for this model compiled against the table's columns (the
        same model unless a group-level line names a column: see mlmdsl.data.modelled)."""
        model, data = self._for_table(data)
        return model._bind(data, drop_missing)

    def _bind(self, data: Any, drop_missing: bool) -> BoundData:
        from mlmdsl.data import DataError, bind

        try:
            return bind(self._compiled.model, data, drop_missing=drop_missing)
        except DataError as e:
            raise CompileError(e.diagnostics, self.source, self._compiled.filename) from None

    # ---- fitting ---------------------------------------------------------------------------
    def fit(
        self,
        data: pd.DataFrame | str | Path,
        *,
        backend: str = "stanli",
        chains: int = 4,
        iter_warmup: int = 1000,
        iter_sampling: int = 1000,
        seed: int | None = None,
        adapt_delta: float = 0.8,
        max_treedepth: int = 10,
        refresh: int = 100,
        progress: bool = True,
        parallel_chains: int | None = None,
        output_dir: str | Path | None = None,
        drop_missing: bool = False,
        parameterization: str | None = None,
        sufficient_statistics: bool = True,
        threads_per_chain: int = 1,
        init: str = "random",
        init_metric: str = "pilot",
        marginalize: bool = True,
    ) -> Fit:
        """`parameterization` ("auto", "noncentered", "centered"; default: the model's, as given
        to from_file/from_string, itself "auto" by default) decides the form of the varying
        effects that no line's annotation decides; "auto" chooses per statement from `data`.
        The choice and its reason are in `fit.data_info["parameterization"]`.

        `progress=False` (or `refresh=0`) prints nothing while sampling; otherwise a bar per
        chain on a terminal or in a notebook, a few plain lines when stderr is a file. Every
        sampler setting is checked first: a ValueError names the keyword and its range.

        `sufficient_statistics` (default True) writes the likelihood over cells of rows that
        share every value but the outcome, when the data has clearly fewer cells than rows
        (mlmdsl.data.cells): the same posterior, LOO and predictions, for less work per
        gradient. `fit.data_info["cells"]` says how many; False keeps it per row.

        `marginalize` (default True) integrates a Normal varying intercept out of a Normal
        likelihood, where nothing else reads it (`y[i] ~ Normal(mu[i], sigma)`, `mu[i] = a +
        alpha[id[i]]`, `alpha[j] ~ Normal(abar, sigma_a)`): NUTS samples the other parameters
        with one likelihood term per level, and each draw of `alpha` comes from its exact
        conditional posterior (mlmdsl.compiler.lower.marginal). The same posterior; False
        samples `alpha` as written. `fit.data_info["marginalized"]` names it.

        `threads_per_chain` > 1 writes the likelihood as `reduce_sum` over slices of rows and
        runs that many threads in each chain (where cells are used, the likelihood is already
        small and stays as it is).

        `init` ("random" or "pathfinder"): where the chains start; "pathfinder" fits a
        single-path Pathfinder approximation first and starts each chain from a draw of it.

        `init_metric` ("pilot", "unit" or "gradient"): how warm-up finds the parameters'
        scales. "pilot" (the default; with at least 400 warm-up iterations) first runs 150
        warm-up iterations with trees of at most 32 steps, then the rest of the warm-up from
        their last draw, metric and step size; "unit" is Stan's own warm-up from the identity;
        "gradient" starts it from nutpie's 1 / |gradient| at each chain's random start (needs
        init="random"). docs/performance.md."""
        from mlmdsl.backends.base import SampleConfig
        from mlmdsl.backends.registry import get_backend
        from mlmdsl.data.matrices import split_data

        # Checked before the data is read, so a bad keyword fails fast (ValueError).
        config = SampleConfig(
            chains=chains,
            iter_warmup=iter_warmup,
            iter_sampling=iter_sampling,
            seed=seed,
            adapt_delta=adapt_delta,
            max_treedepth=max_treedepth,
            refresh=refresh,
            progress=progress,
            parallel_chains=parallel_chains,
            output_dir=Path(output_dir) if output_dir is not None else None,
            threads_per_chain=threads_per_chain,
            init=init,
            init_metric=init_metric,
        )
        table = data
        compiled_for, data = self._for_table(data)  # group-level modelled columns need the columns
        bound = compiled_for._bind(data, drop_missing)
        for d in bound.diagnostics:
            warnings.warn(d.message, DataWarning, stacklevel=2)
        from mlmdsl.compiler.lower.marginal import marginal_intercept

        plan = marginal_intercept(compiled_for.checked) if marginalize else None
        cells = None
        if sufficient_statistics and plan is None:  # integrated out, the likelihood is per level already
            from mlmdsl.data.cells import find_cells

            cells = find_cells(compiled_for.checked, bound)
        forms = {"cells": cells is not None, "threads": threads_per_chain > 1, "marginalize": plan is not None}
        model = compiled_for.for_data(bound, parameterization, **forms)
        stan_data = bound.stan_data if cells is None else {**bound.stan_data, **cells.stan_data}
        raw = get_backend(backend).sample(model.stan_code(), stan_data, config)
        from mlmdsl.posterior.fit import Fit  # after sampling: a failed fit never pays for ArviZ

        info: dict[str, Any] = dict(bound.info)
        info.setdefault("seed", raw.info.get("seed"))
        # What binding decided on the user's behalf (rows dropped) travels with the fit.
        info["notes"] = [d.message for d in bound.diagnostics]
        info["parameterization"] = model.parameterization_notes()
        info["parameterization_asked"] = model._parameterization
        info["marginalized"] = None
        if plan is not None and model._marginal() == plan.effect:
            grouping = model.checked.param(plan.effect).domain
            levels = len({int(v) for v in bound.stan_data[plan.index.stan]})  # those with rows
            rows = bound.stan_data["N"]
            info["marginalized"] = {"effect": plan.effect, "grouping": grouping, "levels": levels, "rows": rows}
        info["cells"] = None if cells is None else {"cells": cells.n_cells, "rows": cells.n_rows, "kind": cells.kind}
        return Fit.from_raw(
            raw,
            model.schema_for(bound),
            bound.observed,
            model_name=self.name,
            stan_code=model.stan_code(),
            data_info=info,
            model_source=self.source,
            data=split_data(table)[0],  # the table; matrices beside it are in the Stan data
        )

    def prior_predictive(
        self, data: pd.DataFrame | str | Path, draws: int = 1000, seed: int | None = None
    ) -> PriorPredictive:
        """Parameters drawn from their priors and outcomes simulated on `data`'s design, without
        MCMC (see mlmdsl.calibration.prior): `.idata` has `prior` and `prior_predictive` groups."""
        from mlmdsl.calibration.prior import prior_predictive

        return prior_predictive(self, data, draws=draws, seed=seed)

    def schema_for(self, bound: BoundData) -> OutputSchema:
        """The compiler's output schema with the data's labels filled in."""
        lowered = self._compiled.lowered
        assert lowered is not None
        coords: dict[str, list] = {**lowered.schema.coords, "obs": list(bound.obs_labels)}
        coords.update({dim: list(labels) for dim, labels in bound.labels.items()})
        # Labels also carry effect and cutpoint dims; only groupings count as groupings.
        sizes = {g: len(bound.labels[g]) for g in self.checked.groupings if g in bound.labels}
        return dataclasses.replace(lowered.schema, coords=coords, groupings=sizes)

    # ---- display ---------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"<mlmdsl.Model {self.name}: {len(self.checked.params)} parameters>"

    def _repr_html_(self) -> str:
        import html

        notes = render_text(self.diagnostics, self.source, self._compiled.filename)
        parts = [f"<b>mlmdsl model</b> <code>{html.escape(self.name)}</code>"]
        parts.append(f"<pre>{html.escape(self.source.strip())}</pre>")
        if notes:
            parts.append(f"<pre>{html.escape(notes)}</pre>")
        parts.append(f"<details><summary>Stan program</summary><pre>{html.escape(self.stan_code())}</pre></details>")
        return "\n".join(parts)
