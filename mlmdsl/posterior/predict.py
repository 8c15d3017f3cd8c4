"""Predictions from a fitted model's own statements, for new rows of data.

`fit.predict(newdata, kind=..., groups=...)` re-evaluates the model's row-level derived
quantities (`logit(p[i]) = a[actor[i]] + ...`) for every posterior draw with the numpy
evaluator, then applies the likelihood's family:

* kind="linpred": the linear predictor before the inverse link (the right side of
  `logit(p[i]) = ...`); kind="epred": the mean of the outcome (p, n * p, exp(mu + s^2/2), ...,
  per-category probabilities for OrderedLogistic); kind="response": one draw of the outcome.
* groups="existing": each row uses its group's estimate; an unseen label is an error.
  groups="average": varying effects sit at their population location (the prior's location
  expression per draw: `abar`, `0`, `b0 + b1 * z[j]`), like brms's `re_formula = NA`.
  groups="new": labels the fit has seen keep their estimates, unseen labels are new groups drawn
  from the fitted population once per label and draw (brms's `allow_new_levels`). A dict such
  as {"actor": "new", "block": "average"} picks a mode per grouping ("existing" elsewhere).

How: every grouped lookup `x[g[...]]` in an expression is rewritten into one name standing for
"x at this row's level of g", resolved row by row: (draws, rows) arrays that the evaluator
broadcasts like any column. That makes new and average levels a matter of filling those arrays,
and nested groupings (`a[region[district[i]]]`) need nothing special.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import special

from mlmdsl.compiler import ast
from mlmdsl.compiler.evaluate import EvalError, evaluate
from mlmdsl.compiler.families import Family
from mlmdsl.compiler.ir import ROWS, CheckedModel, Derived, Likelihood, Param
from mlmdsl.posterior import families_extra as extra

if TYPE_CHECKING:
    import arviz as az

    from mlmdsl.posterior.fit import Fit

__all__ = ["PPC", "PredictionError", "predict", "predict_draws", "ppc"]

Kind = Literal["epred", "linpred", "response"]
Mode = Literal["existing", "average", "new"]
Output = Literal["frame", "arviz"]

KINDS: tuple[str, ...] = ("epred", "linpred", "response")
MODES: tuple[str, ...] = ("existing", "average", "new")
_MAX_SHOWN = 8  # labels listed in one error message


class PredictionError(ValueError):
    """newdata does not fit the model (missing column, unseen label, ...): a one-line message."""


# ------------------------------------------------------------------------------ public API


def predict(
    fit: Fit,
    newdata: pd.DataFrame | Mapping[str, Sequence[Any]] | str | Path | None = None,
    *,
    kind: Kind = "epred",
    groups: Mode | Mapping[str, Mode] = "existing",
    outcome: str | None = None,
    seed: int | None = None,
    summary: bool = True,
    probs: tuple[float, float] = (0.025, 0.975),
    ndraws: int | None = None,
    output: Output = "frame",
) -> pd.DataFrame | az.InferenceData:
    """Predictions for the rows of `newdata` (default: the data the model was fitted to).

    Returns the newdata columns plus Estimate, Est.Error and the `probs` quantiles (Q2.5,
    Q97.5) per row (`summary=True`), or one row per row and draw with `.row`, `.draw` and
    `value` (`summary=False`). Models with several outcomes add `.outcome`; per-category
    probabilities add `.category`. `output="arviz"` gives an InferenceData with a
    `predictions` group (dims chain, draw, obs) and the newdata in `predictions_constant_data`.
    """
    _check_choice("kind", kind, KINDS)
    _check_choice("output", output, ("frame", "arviz"))
    _check_probs(probs)
    table = _newdata_table(fit, newdata)
    values = predict_draws(fit, table, kind=kind, groups=groups, outcome=outcome, seed=seed, ndraws=ndraws)
    if output == "arviz":
        return _to_inference_data(fit, table, values, kind, ndraws)
    if summary:
        return _summary_frame(table, values, probs)
    return _long_frame(table, values)


def predict_draws(
    fit: Fit,
    table: pd.DataFrame,
    *,
    kind: Kind = "epred",
    groups: Mode | Mapping[str, Mode] = "existing",
    outcome: str | None = None,
    seed: int | None = None,
    ndraws: int | None = None,
) -> dict[str, np.ndarray]:
    """outcome -> draws of the prediction: (draws, rows), or (draws, rows, categories)."""
    _check_choice("kind", kind, KINDS)
    model = fit.checked_model
    modes = _group_modes(groups, model)
    if len(table) == 0:
        raise PredictionError("newdata has no rows")
    predictor = _Predictor(fit, model, table, modes, seed, _draw_selection(fit, ndraws))
    return {lk.outcome: predictor.outcome(lk, kind) for lk in _likelihoods(model, outcome)}


def row_labels(fit: Fit, table: pd.DataFrame, grouping: str) -> np.ndarray:
    """Each row's level of a grouping, as the fit labels it (derived indices computed)."""
    return _data_predictor(fit, table).labels(grouping, f"`{grouping}`")


def trials(fit: Fit, table: pd.DataFrame, outcome: str) -> np.ndarray | None:
    """The number of trials per row for a Binomial outcome; None for other families."""
    lk = _likelihoods(fit.checked_model, outcome)[0]
    if lk.family.name != "Binomial":
        return None
    predictor = _data_predictor(fit, table)
    value = predictor.eval(lk.args[0], predictor.letter(lk.stmt), ROWS)
    return np.broadcast_to(np.asarray(value, dtype=float), (len(table),))


def _data_predictor(fit: Fit, table: pd.DataFrame) -> _Predictor:
    # Data-only questions need no draws beyond one to size the arrays.
    model = fit.checked_model
    return _Predictor(fit, model, table, _group_modes("existing", model), None, np.arange(1))


# ---------------------------------------------------------------------- posterior predictive


@dataclass(frozen=True)
class PPC:
    """Observed vs replicated outcome (from the fit's generated quantities)."""

    outcome: str
    observed: np.ndarray  # (N,)
    replicated: np.ndarray  # (draws, N), chains stacked
    obs_labels: list
    discrete: bool

    def frame(self, probs: tuple[float, float] = (0.025, 0.975)) -> pd.DataFrame:
        """One row per observation: observed, and the replicated mean, sd and quantiles."""
        _check_probs(probs)
        quantiles = np.quantile(self.replicated, probs, axis=0)
        out = pd.DataFrame(
            {
                "observed": self.observed,
                "Estimate": self.replicated.mean(axis=0),
                "Est.Error": self.replicated.std(axis=0, ddof=1),
            },
            index=pd.Index(self.obs_labels, name="obs"),
        )
        for p, q in zip(probs, quantiles, strict=True):
            out[_quantile_name(p)] = q
        return out

    def plot(self, **kwargs: Any) -> Any:
        """Densities (continuous) or bars with intervals (discrete); see mlmdsl.posterior.plots.ppc."""
        from mlmdsl.posterior.ppc_plot import ppc_figure

        return ppc_figure(self, **kwargs)


def ppc(fit: Fit, outcome: str | None = None) -> PPC:
    if "posterior_predictive" not in fit.idata.groups():
        raise PredictionError(
            "this fit has no replicated outcomes (posterior_predictive): compile with "
            "generated quantities and use a backend that returns them"
        )
    group = fit.idata.posterior_predictive
    name = _pick_outcome(list(group.data_vars), outcome, "replicated outcomes")
    rep = np.asarray(group[name].transpose("chain", "draw", ...).values, dtype=float)
    replicated = rep.reshape(rep.shape[0] * rep.shape[1], *rep.shape[2:])
    if "observed_data" not in fit.idata.groups() or name not in fit.idata.observed_data:
        raise PredictionError(f"this fit has no observed values of `{name}` to compare with")
    observed = np.asarray(fit.idata.observed_data[name].values, dtype=float)
    labels = list(fit.schema.coords.get("obs", range(1, observed.shape[0] + 1)))
    return PPC(name, observed, replicated, labels, _is_discrete(fit, name, observed, replicated))


def _is_discrete(fit: Fit, name: str, observed: np.ndarray, replicated: np.ndarray) -> bool:
    family = _outcome_family(fit, name)
    if family is not None:
        return family.discrete
    # Without the model, whole numbers everywhere is the best evidence of a discrete outcome.
    return bool(np.all(observed == np.round(observed)) and np.all(replicated == np.round(replicated)))


def _outcome_family(fit: Fit, name: str) -> Family | None:
    if fit.model_source is None:
        return None
    lk = next((lk for lk in fit.checked_model.likelihoods if lk.outcome == name), None)
    return None if lk is None else lk.family


# ------------------------------------------------------------------------- choosing things


def _check_choice(what: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        shown = ", ".join(f'"{a}"' for a in allowed)
        raise PredictionError(f"{what} must be one of {shown}, got {value!r}")


def _check_probs(probs: Sequence[float]) -> None:
    if not all(0 < p < 1 for p in probs):
        raise PredictionError(f"probs must lie between 0 and 1, got {tuple(probs)}")


def _group_modes(groups: Mode | Mapping[str, Mode], model: CheckedModel) -> dict[str, str]:
    """A mode for every grouping; a single mode applies to all of them."""
    if isinstance(groups, str):
        _check_choice("groups", groups, MODES)
        return dict.fromkeys(model.groupings, groups)
    unknown = [g for g in groups if g not in model.groupings]
    if unknown:
        known = ", ".join(model.groupings) or "none"
        raise PredictionError(f"groups names {unknown}, which are not groupings (groupings: {known})")
    for mode in groups.values():
        _check_choice("each mode in groups", mode, MODES)
    return {g: str(groups.get(g, "existing")) for g in model.groupings}


def _likelihoods(model: CheckedModel, outcome: str | None) -> list[Likelihood]:
    if outcome is None:
        return list(model.likelihoods)
    chosen = [lk for lk in model.likelihoods if lk.outcome == outcome]
    if not chosen:
        known = ", ".join(lk.outcome for lk in model.likelihoods)
        raise PredictionError(f"`{outcome}` is not an outcome of this model (outcomes: {known})")
    return chosen


def _pick_outcome(names: list[str], outcome: str | None, what: str) -> str:
    if outcome is not None:
        if outcome not in names:
            raise PredictionError(f"no {what} for `{outcome}`; this fit has {names}")
        return outcome
    if len(names) != 1:
        raise PredictionError(f"this fit has {what} for {names}: choose one with outcome=...")
    return names[0]


def _draw_selection(fit: Fit, ndraws: int | None) -> np.ndarray:
    """Indices into the chain-stacked draws: all of them, or `ndraws` evenly spaced."""
    total = fit.n_chains * fit.n_draws
    if ndraws is None or ndraws >= total:
        return np.arange(total)
    if ndraws < 1:
        raise PredictionError(f"ndraws must be at least 1, got {ndraws}")
    return np.unique(np.linspace(0, total - 1, ndraws).round().astype(np.int64))


def _newdata_table(fit: Fit, newdata: pd.DataFrame | Mapping[str, Sequence[Any]] | str | Path | None) -> pd.DataFrame:
    if newdata is None:
        table = fit.data
        if table is None:
            raise PredictionError("this fit does not carry its data: pass newdata (a DataFrame or a CSV path)")
        return table
    if isinstance(newdata, pd.DataFrame):
        return newdata
    if isinstance(newdata, (str, Path)):
        from mlmdsl.data import DataError, read_table

        try:
            return read_table(newdata)
        except DataError as exc:
            raise PredictionError(str(exc).strip().splitlines()[0]) from None
    if isinstance(newdata, Mapping):
        return pd.DataFrame(dict(newdata))
    raise PredictionError(f"newdata must be a DataFrame, a dict of columns or a path, got {type(newdata).__name__}")


# ------------------------------------------------------------------------------- evaluation

_INVERSE_LINKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda x: x,
    "logit": special.expit,
    "log": np.exp,
    "probit": special.ndtr,
    "cloglog": lambda x: -np.expm1(-np.exp(x)),
}


class _Env(Mapping[str, Any]):
    """The evaluator's view of a predictor: names resolve (and are computed) on first use."""

    def __init__(self, predictor: _Predictor) -> None:
        self.p = predictor

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.p.knows(key)

    def __getitem__(self, key: str) -> Any:
        return self.p.value(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.p.cache)

    def __len__(self) -> int:
        return len(self.p.cache)


class _Predictor:
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
        shape = self.rows_shape(args[_mean_slot(fam)]).shape
        low = float(lk.lower) if lk.lower is not None else None
        high = float(lk.upper) if lk.upper is not None else None
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
            return self.eval(lk.args[_mean_slot(lk.family)], letter, ROWS)
        value = self.value(d.name)  # computing it records the value before the link
        return self.linear[d.name] if d.link != "identity" else value

    def row_quantity(self, lk: Likelihood, letter: str) -> Derived | None:
        slots = [_mean_slot(lk.family)] + [k for k in range(len(lk.args)) if k != _mean_slot(lk.family)]
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
        return self.column(name, f"`{name}`")

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
        return _INVERSE_LINKS[d.link](np.asarray(value, dtype=float))

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
        # A group-level column (z in b0 + b1 * z[j]): the row's own value, constant per level.
        return self.column(symbol, f"`{text}`")

    def is_varying(self, p: Param) -> bool:
        """A group effect: its prior has parameters in it (a population to draw levels from)."""
        names = {n.id for a in p.prior.args for n in ast.walk(a) if isinstance(n, ast.Name)}
        dependent = set(self.params) | {d.name for d in self.m.derived if not d.data_only}
        return bool(names & dependent)

    def fixed_levels(self, p: Param, grouping: str, text: str) -> np.ndarray:
        labels = self.labels(grouping, text)
        codes, unseen = self.codes(grouping, labels)
        if unseen.any():
            raise PredictionError(
                f"{self.describe(grouping)} has {_labels_text(labels[unseen])} that the fit has "
                f"not seen; `{p.name}` has a fixed prior, so there is no population to draw new "
                f"levels from (known levels: {_labels_text(self.known(grouping), bare=True)})"
            )
        return self.posterior(p.name)[:, codes - 1]

    def varying(self, p: Param, grouping: str, text: str) -> np.ndarray:
        mode = self.modes.get(grouping, "existing")
        if mode == "average":
            return self.rows_shape(self.population_location(p))
        labels = self.labels(grouping, text)
        codes, unseen = self.codes(grouping, labels)
        if unseen.any() and mode == "existing":
            raise PredictionError(
                f"{self.describe(grouping)} has {_labels_text(labels[unseen])} that the fit has "
                f'not seen; use groups="new" to draw new levels from the population or '
                f'groups="average" for the population mean'
            )
        out = np.array(self.posterior(p.name)[:, np.where(unseen, 1, codes) - 1])
        if unseen.any():
            out[:, unseen] = self.new_levels(p, labels, unseen)
        return out

    def new_levels(self, p: Param, labels: np.ndarray, unseen: np.ndarray) -> np.ndarray:
        """One draw per new label and posterior draw, spread over the rows with that label."""
        rows = np.flatnonzero(unseen)
        which, uniques = pd.factorize(pd.Series(labels[rows], dtype=object))
        _, first = np.unique(which, return_index=True)
        per_label = self.draw_levels(p, list(uniques), rows[first])
        return per_label[:, which]

    def draw_levels(self, p: Param, labels: list[Any], rows: np.ndarray) -> np.ndarray:
        """(draws, labels) fresh levels of p, from its prior evaluated at each label's first row."""
        if p.prior.family.name == "MVNormal":
            position, joint = self.joint_levels(p, labels, rows)
            return joint[..., position]
        letter = self.letter(p.prior.stmt)
        args = [self.rows_shape(self.eval(a, letter, str(p.domain)))[:, rows] for a in p.prior.args]
        out = np.empty((self.s, len(labels)))
        for k, label in enumerate(labels):
            rng = self.rng(0, p.prior.stmt.span.line, label)
            out[:, k] = family_draw(p.prior.family, [a[:, k] for a in args], rng, (self.s,))
        return out

    def joint_levels(self, p: Param, labels: list[Any], rows: np.ndarray) -> tuple[int, np.ndarray]:
        """Correlated effects `[a, b][j] ~ MVNormal(mu, Rho, tau)` are drawn together:
        (draws, labels, effects), cached so that a and b get the same draw."""
        stmt = p.prior.stmt
        key = (id(stmt), tuple(int(r) for r in rows))
        if key not in self.joint_cache:
            mean = self.joint_means(p)[:, rows, :]
            chol = self.joint_cholesky(p)
            z = np.stack(
                [self.rng(0, stmt.span.line, label).standard_normal((self.s, mean.shape[2])) for label in labels],
                axis=1,
            )
            self.joint_cache[key] = mean + np.einsum("sij,smj->smi", chol, z)
        return _joint_targets(stmt).index(p.name), self.joint_cache[key]

    def joint_means(self, p: Param) -> np.ndarray:
        mu = p.prior.args[0]
        if not isinstance(mu, ast.VectorLit):
            raise PredictionError(f"new levels of `{p.name}` need its MVNormal mean written as a vector `[...]`")
        letter = self.letter(p.prior.stmt)
        items = [self.rows_shape(self.eval(item, letter, str(p.domain))) for item in mu.items]
        return np.stack(items, axis=-1)  # (draws, rows, effects)

    def joint_cholesky(self, p: Param) -> np.ndarray:
        """diag(tau) * L, with L the Cholesky factor of Rho, per draw: (draws, E, E)."""
        letter = self.letter(p.prior.stmt)
        rho = np.asarray(self.eval(p.prior.args[1], letter, ROWS), dtype=float)
        tau = np.asarray(self.eval(p.prior.args[2], letter, ROWS), dtype=float)
        n_effects = len(_joint_targets(p.prior.stmt))
        rho = np.broadcast_to(rho, (self.s, n_effects, n_effects))
        tau = np.broadcast_to(tau, (self.s, n_effects))
        return tau[:, :, None] * _cholesky(rho)

    def population_location(self, p: Param) -> Any:
        """Where the population of p's levels is centred, per draw (and row, when the prior's
        location uses group-level data such as z[j])."""
        letter = self.letter(p.prior.stmt)
        if p.prior.family.name == "MVNormal":
            mu = p.prior.args[0]
            if not isinstance(mu, ast.VectorLit):
                raise PredictionError(f"`{p.name}`: the MVNormal mean must be a vector `[...]`")
            position = _joint_targets(p.prior.stmt).index(p.name)
            return self.eval(mu.items[position], letter, str(p.domain))
        args = [self.eval(a, letter, str(p.domain)) for a in p.prior.args]
        return family_location(p.prior.family, [np.asarray(a, dtype=float) for a in args])

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
                f"newdata column `{name}` has missing values in {_rows_text(self.table.index[missing])}"
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
                labels = np.array([_plain(v) for v in self.series(grouping, f"`{text}`")], dtype=object)
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
        lookup = {_plain(label): k + 1 for k, label in enumerate(self.known(grouping))}
        codes = np.array([_find(lookup, label) for label in labels], dtype=np.int64)
        return codes, codes == 0

    def rng(self, purpose: int, line: int, label: Any = None) -> np.random.Generator:
        """A stream per statement (and new label): what a label draws under a seed does not
        depend on the evaluation order, the row order or the other labels in newdata."""
        key = (purpose, line) if label is None else (purpose, line, _label_key(label))
        child = np.random.SeedSequence(self.seed.entropy, spawn_key=key)
        return np.random.default_rng(child)


# -------------------------------------------------------------------------------- families


def _mean_slot(family: Family) -> int:
    """The argument carrying the linear predictor: a location, else a probability or rate."""
    if family.mean_index is not None:  # ZIPoisson(zi, lambda): lambda
        return family.mean_index
    kinds = [kind for _, kind in family.args]
    for wanted in ("loc", "prob", "positive"):
        if wanted in kinds:
            return kinds.index(wanted)
    return 0


def family_mean(family: Family, args: list[Any]) -> np.ndarray:
    """The expected value of an outcome; per-category probabilities for OrderedLogistic."""
    name = family.name
    if name == "OrderedLogistic":
        return ordered_probabilities(args[0], args[1])
    fn = _MEANS.get(name)
    if fn is None:
        raise PredictionError(f"epred is not available for {name} outcomes yet")
    with np.errstate(all="ignore"):
        return np.asarray(fn(*args), dtype=float)


def family_location(family: Family, args: list[np.ndarray]) -> np.ndarray:
    """The centre of a group-level prior: its location argument, or its mean."""
    kinds = [kind for _, kind in family.args]
    if family.location_scale and "loc" in kinds:
        return args[kinds.index("loc")]
    return family_mean(family, args)


_MEANS: dict[str, Callable[..., Any]] = {
    "Normal": lambda mu, sigma: mu,
    "StudentT": lambda nu, mu, sigma: np.where(nu > 1, mu, np.nan),
    "Cauchy": lambda mu, sigma: mu,  # no mean: its location (median) stands in
    "Logistic": lambda mu, sigma: mu,
    "LogNormal": lambda mu, sigma: np.exp(mu + sigma**2 / 2),
    "Gamma": lambda alpha, beta: alpha / beta,
    "Exponential": lambda rate: 1 / rate,
    "Beta": lambda a, b: a / (a + b),
    "Uniform": lambda lower, upper: (lower + upper) / 2,
    "HalfNormal": lambda sigma: sigma * np.sqrt(2 / np.pi),
    "Bernoulli": lambda p: p,
    "Binomial": lambda n, p: n * p,
    "Poisson": lambda rate: rate,
    "NegBinomial": lambda mu, phi: mu,
    **extra.MEANS,
}


def ordered_probabilities(eta: Any, cutpoints: Any) -> np.ndarray:
    """P(y = k) for k = 1..K under Stan's ordered_logistic(eta, c): (draws, rows, K)."""
    eta = np.asarray(eta, dtype=float)
    cuts = np.asarray(cutpoints, dtype=float)
    if cuts.ndim != 2:
        raise PredictionError("OrderedLogistic needs one vector of cutpoints per draw")
    above = special.expit(eta[..., None] - cuts[:, None, :])  # P(y > k), k = 1..K-1
    ones = np.ones_like(above[..., :1])
    return np.concatenate([ones, above], axis=-1) - np.concatenate([above, 0 * ones], axis=-1)


def family_draw(family: Family, args: list[Any], rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """One draw of the family per element of `shape`, with arguments broadcast to it."""
    name = family.name
    if name == "OrderedLogistic":
        probs = ordered_probabilities(args[0], args[1])
        u = rng.random((*probs.shape[:-1], 1))
        return (u > np.cumsum(probs, axis=-1)[..., :-1]).sum(axis=-1) + 1.0
    fn = _DRAWS.get(name)
    if fn is None:
        raise PredictionError(f"drawing from {name} is not supported yet")
    full = [np.broadcast_to(np.asarray(a, dtype=float), shape) for a in args]
    with np.errstate(all="ignore"):
        return np.asarray(fn(rng, shape, *full), dtype=float)


_DRAWS: dict[str, Callable[..., Any]] = {
    "Normal": lambda r, s, mu, sigma: mu + sigma * r.standard_normal(s),
    "StudentT": lambda r, s, nu, mu, sigma: mu + sigma * r.standard_t(nu, s),
    "Cauchy": lambda r, s, mu, sigma: mu + sigma * r.standard_cauchy(s),
    "Logistic": lambda r, s, mu, sigma: r.logistic(mu, sigma, s),
    "LogNormal": lambda r, s, mu, sigma: np.exp(mu + sigma * r.standard_normal(s)),
    "Gamma": lambda r, s, alpha, beta: r.gamma(alpha, 1 / beta, s),
    "Exponential": lambda r, s, rate: r.exponential(1 / rate, s),
    "Beta": lambda r, s, a, b: r.beta(a, b, s),
    "Uniform": lambda r, s, lower, upper: r.uniform(lower, upper, s),
    "HalfNormal": lambda r, s, sigma: np.abs(sigma * r.standard_normal(s)),
    "HalfCauchy": lambda r, s, sigma: np.abs(sigma * r.standard_cauchy(s)),
    "HalfStudentT": lambda r, s, nu, sigma: np.abs(sigma * r.standard_t(nu, s)),
    "Bernoulli": lambda r, s, p: (r.random(s) < p).astype(float),
    "Binomial": lambda r, s, n, p: r.binomial(n.astype(np.int64), np.clip(p, 0, 1), s),
    "Poisson": lambda r, s, rate: r.poisson(rate, s),
    # Stan's neg_binomial_2(mu, phi) is a Poisson whose rate is Gamma(phi, phi / mu).
    "NegBinomial": lambda r, s, mu, phi: r.poisson(r.gamma(phi, mu / phi, s)),
    **extra.DRAWS,
}


def _cholesky(rho: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of correlation matrices; a factor already (zero upper triangle,
    rows of unit length) is kept as it is."""
    upper = np.triu(rho, k=1)
    if np.allclose(upper, 0) and not np.allclose(rho, np.swapaxes(rho, -1, -2)):
        return rho
    try:
        return np.linalg.cholesky(rho)
    except np.linalg.LinAlgError:
        # Draws at the edge of positive definiteness: a tiny ridge keeps the factor real.
        eye = np.eye(rho.shape[-1])
        return np.linalg.cholesky(rho + 1e-10 * eye)


def _joint_targets(stmt: ast.Sample) -> list[str]:
    lhs = stmt.lhs
    if isinstance(lhs, ast.Index) and isinstance(lhs.base, ast.VectorLit):
        return [item.id for item in lhs.base.items if isinstance(item, ast.Name)]
    raise PredictionError(f"line {stmt.span.line}: expected correlated effects `[a, b][j] ~ ...`")


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


# ---------------------------------------------------------------------------------- labels


def _plain(value: Any) -> Any:
    """A label as the fit's coords hold it: numpy scalars unwrapped, 6.0 as 6."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _label_key(label: Any) -> int:
    # A stable number per label (Python's hash() of text changes between runs).
    return zlib.crc32(repr(_plain(label)).encode("utf-8"))


def _find(lookup: dict[Any, int], label: Any) -> int:
    if label in lookup:
        return lookup[label]
    # "6" from a text column for a level read as the number 6, and the other way round.
    if isinstance(label, str):
        try:
            return lookup.get(_plain(float(label)), 0)
        except ValueError:
            return 0
    return lookup.get(str(label), 0)


def _labels_text(labels: Sequence[Any] | np.ndarray, *, bare: bool = False) -> str:
    """`labels 'new', 8` (or just `'new', 8`), at most _MAX_SHOWN of them."""
    distinct = list(dict.fromkeys(_plain(v) for v in labels))
    if not distinct:
        return "none"
    shown = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in distinct[:_MAX_SHOWN])
    more = f" and {len(distinct) - _MAX_SHOWN} more" if len(distinct) > _MAX_SHOWN else ""
    if bare:
        return shown + more
    noun = "label" if len(distinct) == 1 else "labels"
    return f"{noun} {shown}{more}"


def _rows_text(index: pd.Index) -> str:
    rows = [str(r) for r in index[:_MAX_SHOWN]]
    more = f" and {len(index) - _MAX_SHOWN} more" if len(index) > _MAX_SHOWN else ""
    return ("row " if len(index) == 1 else "rows ") + ", ".join(rows) + more


# ---------------------------------------------------------------------------------- output


def _quantile_name(p: float) -> str:
    return f"Q{100 * p:g}"


def _extra_dims(values: dict[str, np.ndarray]) -> tuple[bool, bool]:
    several = len(values) > 1
    categories = any(v.ndim == 3 for v in values.values())
    return several, categories


def _summary_frame(table: pd.DataFrame, values: dict[str, np.ndarray], probs: tuple[float, float]) -> pd.DataFrame:
    several, categories = _extra_dims(values)
    pieces = []
    for name, draws in values.items():
        per_cat = draws if draws.ndim == 3 else draws[..., None]
        for k in range(per_cat.shape[-1]):
            x = per_cat[..., k]
            piece = table.copy()
            if several:
                piece[".outcome"] = name
            if categories:
                piece[".category"] = k + 1 if draws.ndim == 3 else pd.NA
            piece["Estimate"] = x.mean(axis=0)
            piece["Est.Error"] = x.std(axis=0, ddof=1) if x.shape[0] > 1 else np.nan
            for p, q in zip(probs, np.quantile(x, probs, axis=0), strict=True):
                piece[_quantile_name(p)] = q
            pieces.append(piece)
    out = pd.concat(pieces)
    if categories:  # rows together, categories in order within each row
        position = np.tile(np.arange(len(table)), len(pieces))
        out = out.iloc[np.argsort(position, kind="stable")]
    return out


def _long_frame(table: pd.DataFrame, values: dict[str, np.ndarray]) -> pd.DataFrame:
    several, categories = _extra_dims(values)
    pieces = []
    for name, draws in values.items():
        per_cat = draws if draws.ndim == 3 else draws[..., None]
        n_draws, n_rows, n_cat = per_cat.shape
        # Row-major, like tidybayes: all draws of row 0 (category by category), then row 1.
        flat = np.transpose(per_cat, (1, 2, 0)).reshape(-1)
        rows = np.repeat(np.arange(n_rows), n_cat * n_draws)
        piece = table.iloc[rows].reset_index(drop=True)
        piece[".row"] = rows
        if several:
            piece[".outcome"] = name
        if categories:
            cats = np.tile(np.repeat(np.arange(1, n_cat + 1), n_draws), n_rows)
            piece[".category"] = cats if draws.ndim == 3 else pd.NA
        piece[".draw"] = np.tile(np.arange(n_draws), n_rows * n_cat)
        piece["value"] = flat
        pieces.append(piece)
    return pd.concat(pieces, ignore_index=True)


def _to_inference_data(
    fit: Fit, table: pd.DataFrame, values: dict[str, np.ndarray], kind: str, ndraws: int | None
) -> az.InferenceData:
    import warnings

    import xarray as xr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az

    obs = list(table.index)
    all_draws = ndraws is None or ndraws >= fit.n_chains * fit.n_draws
    chains, per_chain = (fit.n_chains, fit.n_draws) if all_draws else (1, -1)
    data_vars = {}
    for name, draws in values.items():
        shaped = draws.reshape(chains, per_chain, *draws.shape[1:])
        dims = ["chain", "draw", "obs"] + (["category"] if draws.ndim == 3 else [])
        coords: dict[str, Any] = {"obs": obs}
        if draws.ndim == 3:
            coords["category"] = np.arange(1, draws.shape[2] + 1)
        data_vars[name] = xr.DataArray(shaped, dims=dims, coords=coords)
    predictions = xr.Dataset(data_vars, attrs={"kind": kind, "model_name": fit.model_name})
    constant = xr.Dataset({c: ("obs", table[c].to_numpy()) for c in table.columns}, coords={"obs": obs})
    return az.InferenceData(predictions=predictions, predictions_constant_data=constant)
