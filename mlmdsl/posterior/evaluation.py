"""The model's statements evaluated for new rows: every name (data column, parameter draws,
derived quantity, grouped lookup) resolved per posterior draw, up to the linear predictor and
the family's arguments.

How: every grouped lookup `x[g[...]]` in an expression is rewritten into one name standing for
"x at this row's level of g", resolved row by row: (draws, rows) arrays that the evaluator
broadcasts like any column. That makes new and average levels (mlmdsl.posterior.group_levels)
a matter of filling those arrays, and nested groupings (`a[region[district[i]]]`) need nothing
special.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlmdsl.compiler import ast
from mlmdsl.compiler.evaluate import EvalError, evaluate
from mlmdsl.compiler.families import Family
from mlmdsl.compiler.ir import ROWS, CheckedModel, Derived, Likelihood, Param
from mlmdsl.posterior import families_extra as extra
from mlmdsl.posterior.errors import PredictionError
from mlmdsl.posterior.group_levels import GroupLevels
from mlmdsl.posterior.imputed import merged_column, merged_levels
from mlmdsl.posterior.labels import find_label, label_key, plain, rows_text
from mlmdsl.posterior.outcomes import INVERSE_LINKS, family_draw, family_mean, mean_slot

if TYPE_CHECKING:
    from mlmdsl.posterior.fit import Fit

__all__ = ["Predictor"]


class _Env(Mapping[str, Any]):
    """The evaluator's view of a predictor: names resolve (and are computed) on first use."""

    def __init__(self, predictor: Predictor) -> None:
        self.p = predictor

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.p.knows(key)

    def __getitem__(self, key: str) -> Any:
        return self.p.value(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.p.cache)

    def __len__(self) -> int:
        return len(self.p.cache)


class Predictor(GroupLevels):
    """Values of the model's names for the rows of one table, per posterior draw."""

    def __init__(
        self,
        fit: Fit,
        model: CheckedModel,
        table: pd.DataFrame,
        modes: dict[str, str],
        seed: int | None,
        draw_index: np.ndarray,
    ) -> None:
        self.fit = fit
        self.m = model
        self.table = table
        self.n = len(table)
        self.modes = modes
        self.draw_index = draw_index
        self.s = len(draw_index)
        self.seed = np.random.SeedSequence(seed)
        self.params = {p.name: p for p in model.params}
        self.derived = {d.name: d for d in model.derived}
        self.columns = {dv.name for dv in model.data}
        self.cache: dict[str, Any] = {}
        self.linear: dict[str, Any] = {}  # linked derived quantity -> its value before the link
        self.grouped_keys: dict[str, tuple[str, str]] = {}  # rewritten name -> (symbol, grouping)
        self.key_text: dict[str, str] = {}  # rewritten name -> the expression as written
        self.labels_cache: dict[str, np.ndarray] = {}
        self.joint_cache: dict[tuple[int, tuple[int, ...]], np.ndarray] = {}
        self.env = _Env(self)

    # -- the outcome ------------------------------------------------------------------
    def outcome(self, lk: Likelihood, kind: str) -> np.ndarray:
        letter = self.letter(lk.stmt)
        if kind == "linpred":
            return self.rows_shape(self.linpred(lk, letter))
        if lk.family.name == "Categorical":
            return self.categorical(lk, kind, letter)
        args = self.family_args(lk.family, lk.args, letter)
        fam = lk.family
        shape = self.rows_shape(args[mean_slot(fam)]).shape
        low, high = extra.truncation_bounds(lk, lambda e: self.eval(e, letter, ROWS))
        if kind == "epred":
            if lk.truncated:  # the mean of the truncated outcome; a censored one: uncensored
                return extra.truncated_mean(fam.name, fam.discrete, args, low, high)
            return family_mean(fam, args)
        rng = self.rng(1, lk.stmt.span.line)
        if lk.truncated:
            return extra.truncated_draw(fam.name, fam.discrete, args, low, high, rng, shape)
        return family_draw(fam, args, rng, shape)

    def categorical(self, lk: Likelihood, kind: str, letter: str) -> np.ndarray:
        """Per-category probabilities (epred, as for ordered outcomes) or drawn categories."""
        arg = lk.args[0]
        shape = (self.s, self.n)
        if isinstance(arg, ast.Call):  # softmax(s1, ..., sK)
            probs = extra.categorical_probabilities([self.eval(a, letter, ROWS) for a in arg.args], None, shape)
        elif isinstance(arg, ast.Name):  # an estimated simplex: its draws, (draws, K)
            probs = extra.categorical_probabilities(None, self.posterior(arg.id), shape)
        else:
            values = [a.value for a in arg.items]  # type: ignore[attr-defined]
            probs = extra.categorical_probabilities(None, values, shape)
        if kind == "epred":
            return probs
        return extra.categorical_draw(probs, self.rng(1, lk.stmt.span.line))

    def linpred(self, lk: Likelihood, letter: str) -> Any:
        """The linear predictor: the first row-level quantity the likelihood's arguments use
        (`p` in Bernoulli(p[i]), `mu` in Gamma(k, k / mu[i])), before its link; without one, the
        mean argument itself (`Normal(a + b * x[i], sigma)`)."""
        d = self.row_quantity(lk, letter)
        if d is None:
            return self.eval(lk.args[mean_slot(lk.family)], letter, ROWS)
        value = self.value(d.name)  # computing it records the value before the link
        return self.linear[d.name] if d.link != "identity" else value

    def row_quantity(self, lk: Likelihood, letter: str) -> Derived | None:
        slots = [mean_slot(lk.family)] + [k for k in range(len(lk.args)) if k != mean_slot(lk.family)]
        for k in slots:
            for node in ast.walk(lk.args[k]):
                d = self.derived.get(_direct_name(node, letter) or "")
                if d is not None and d.level == ROWS and not d.data_only:
                    return d
        return None

    def family_args(self, family: Family, args: Sequence[ast.Expr], letter: str) -> list[Any]:
        out = []
        for (_, arg_kind), arg in zip(family.args, args, strict=True):
            value = self.eval(arg, letter, ROWS)
            # Cutpoints are one vector per draw, not one value per row.
            out.append(value if arg_kind == "ordered" else self.rows_shape(value))
        return out

    def rows_shape(self, value: Any) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=float), (self.s, self.n))

    # -- names ------------------------------------------------------------------------
    def knows(self, name: str) -> bool:
        return name in self.grouped_keys or name in self.params or name in self.derived or name in self.columns

    def value(self, name: str) -> Any:
        if name not in self.cache:
            self.cache[name] = self.compute(name)
        return self.cache[name]

    def compute(self, name: str) -> Any:
        if name in self.grouped_keys:
            symbol, grouping = self.grouped_keys[name]
            return self.grouped(symbol, grouping, self.key_text[name])
        if name in self.params:
            return self.param_draws(self.params[name])
        if name in self.derived:
            return self.derived_value(self.derived[name], ROWS)
        if self.m.modelled_named(name) is not None and name in self.table.columns:
            return self.modelled(name)
        return self.column(name, f"`{name}`")

    def modelled(self, name: str) -> np.ndarray:
        """A modelled column: the table's values, the fit's imputed draws in its missing cells."""
        posterior = self.fit.idata.posterior[name]
        labels = posterior.coords[posterior.dims[-1]].values.tolist()
        try:
            return merged_column(self.table[name], self.posterior(name), labels, name)
        except ValueError as exc:
            raise PredictionError(str(exc)) from None

    def modelled_levels(self, name: str, grouping: str, text: str) -> np.ndarray:
        """A group-level modelled column at each row's level: the table's, or the imputed draws."""
        posterior = self.fit.idata.posterior[name]
        labels = posterior.coords[posterior.dims[-1]].values.tolist()
        series = self.table[name] if name in self.table.columns else None
        try:
            levels = self.labels(grouping, f"`{text}`")
            return merged_levels(series, levels, self.posterior(name), labels, name, grouping)
        except ValueError as exc:
            raise PredictionError(str(exc)) from None

    def letter(self, stmt: ast.Sample | ast.Assign) -> str:
        return self.m.statement_letters.get(id(stmt), self.m.row_letter)

    def eval(self, expr: ast.Expr, letter: str, domain: str) -> Any:
        try:
            return evaluate(self.rewrite(expr, letter, domain), self.env, letter)
        except EvalError as exc:
            raise PredictionError(f"cannot predict `{ast.to_text(expr)}`: {exc}") from None

    def rewrite(self, expr: ast.Expr, letter: str, domain: str) -> ast.Expr:
        """`x[g[i]]` -> one name for "x at this row's level of g"; `x[j]` in a statement over
        the levels of g likewise. `x[i]` stays: it is the row's own value already."""
        match expr:
            case ast.Index(base=ast.Name(id=base), indices=(ix,)):
                grouping = self.grouping_of(ix, letter, domain)
                if grouping is None:
                    return expr
                key = f"{base}[{grouping}]"
                self.grouped_keys[key] = (base, grouping)
                self.key_text.setdefault(key, ast.to_text(expr))
                return ast.Name(key, expr.span)
            case ast.BinOp():
                left = self.rewrite(expr.left, letter, domain)
                right = self.rewrite(expr.right, letter, domain)
                return dataclasses.replace(expr, left=left, right=right)
            case ast.Neg():
                return dataclasses.replace(expr, operand=self.rewrite(expr.operand, letter, domain))
            case ast.Call():
                args = tuple(self.rewrite(a, letter, domain) for a in expr.args)
                return dataclasses.replace(expr, args=args)
        return expr

    @staticmethod
    def grouping_of(ix: ast.Expr, letter: str, domain: str) -> str | None:
        if isinstance(ix, ast.Name) and ix.id == letter:
            return None if domain == ROWS else domain
        if isinstance(ix, ast.Index) and isinstance(ix.base, ast.Name):
            return ix.base.id
        return None

    # -- parameters -------------------------------------------------------------------
    def posterior(self, name: str) -> np.ndarray:
        posterior = self.fit.idata.posterior
        if name not in posterior:
            raise PredictionError(f"the fit has no draws of `{name}`, which the model needs")
        values = np.asarray(posterior[name].transpose("chain", "draw", ...).values, dtype=float)
        flat = values.reshape(values.shape[0] * values.shape[1], *values.shape[2:])
        return flat[self.draw_index]

    def param_draws(self, p: Param) -> np.ndarray:
        draws = self.posterior(p.name)
        if p.shape == "group":
            raise PredictionError(f"`{p.name}` has one value per `{p.domain}` and needs an index")
        return draws[:, None] if draws.ndim == 1 else draws  # scalars broadcast over the rows

    def derived_value(self, d: Derived, domain: str) -> Any:
        value = self.eval(d.rhs, self.letter(d.stmt), domain)
        if d.link == "identity":
            return value
        self.linear[d.name] = value
        return INVERSE_LINKS[d.link](np.asarray(value, dtype=float))

    # -- grouped lookups ----------------------------------------------------------------
    def grouped(self, symbol: str, grouping: str, text: str) -> Any:
        """`symbol` at each row's level of `grouping`."""
        if symbol in self.params:
            p = self.params[symbol]
            if p.shape != "group":
                raise PredictionError(f"`{text}` indexes `{symbol}`, which has no levels")
            if self.is_varying(p):
                return self.varying(p, grouping, text)
            return self.fixed_levels(p, grouping, text)
        if symbol in self.derived:
            return self.derived_value(self.derived[symbol], grouping)
        c = self.m.modelled_named(symbol)
        if c is not None and c.prior is not None:  # observed per level, imputed where the fit did
            return self.modelled_levels(symbol, grouping, text)
        # A group-level column (z in b0 + b1 * z[j]): the row's own value, constant per level.
        return self.column(symbol, f"`{text}`")

    # -- data ---------------------------------------------------------------------------
    def column(self, name: str, used_as: str) -> np.ndarray:
        series = self.series(name, used_as)
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
        bad = np.isnan(values)
        if bad.any():
            example = series.iloc[int(np.flatnonzero(bad)[0])]
            raise PredictionError(f"newdata column `{name}` must hold numbers for {used_as}, found {example!r}")
        return values

    def series(self, name: str, used_as: str) -> pd.Series:
        if name not in self.table.columns:
            raise PredictionError(f"newdata has no column `{name}`, which {used_as} needs")
        series = self.table[name]
        missing = series.isna().to_numpy()
        if missing.any():
            raise PredictionError(
                f"newdata column `{name}` has missing values in {rows_text(self.table.index[missing])}"
            )
        return series

    def labels(self, grouping: str, text: str) -> np.ndarray:
        """Each row's level of a grouping: the column, or a data-only derived index."""
        if grouping not in self.labels_cache:
            d = self.derived.get(grouping)
            if d is not None and d.data_only:
                values = np.asarray(self.rows_shape(self.derived_value(d, ROWS))[0])
                if not np.all(values == np.round(values)):
                    raise PredictionError(f"`{grouping}` (used in `{text}`) is not a whole number in newdata")
                labels = np.array([int(v) for v in values], dtype=object)
            else:
                labels = np.array([plain(v) for v in self.series(grouping, f"`{text}`")], dtype=object)
            self.labels_cache[grouping] = labels
        return self.labels_cache[grouping]

    def describe(self, grouping: str) -> str:
        d = self.derived.get(grouping)
        if d is not None and d.data_only:
            return f"`{grouping}` (= {ast.to_text(d.rhs)})"
        return f"newdata column `{grouping}`"

    def known(self, grouping: str) -> list[Any]:
        return list(self.fit.schema.coords.get(grouping, []))

    def codes(self, grouping: str, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """1-based codes of the fit's levels, and which labels the fit has not seen."""
        lookup = {plain(label): k + 1 for k, label in enumerate(self.known(grouping))}
        codes = np.array([find_label(lookup, label) for label in labels], dtype=np.int64)
        return codes, codes == 0

    def rng(self, purpose: int, line: int, label: Any = None) -> np.random.Generator:
        """A stream per statement (and new label): what a label draws under a seed does not
        depend on the evaluation order, the row order or the other labels in newdata."""
        key = (purpose, line) if label is None else (purpose, line, label_key(label))
        child = np.random.SeedSequence(self.seed.entropy, spawn_key=key)
        return np.random.default_rng(child)


def _direct_name(arg: ast.Expr, letter: str) -> str | None:
    """`p[i]` or `p` -> "p"; anything else (an expression) -> None."""
    if isinstance(arg, ast.Name):
        return arg.id
    if (
        isinstance(arg, ast.Index)
        and isinstance(arg.base, ast.Name)
        and len(arg.indices) == 1
        and isinstance(arg.indices[0], ast.Name)
        and arg.indices[0].id == letter
    ):
        return arg.base.id
    return None
