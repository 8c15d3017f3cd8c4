"""Draw a checked model's parameters from their priors and its outcomes from its likelihoods.

No MCMC: every quantity is drawn directly with numpy, in dependency order. Names are resolved on
first use (hyperparameters before the group effects whose priors use them, group effects before
the derived quantities built from them), so the order the statements are written in never
matters. Every value is an array whose first axis is the draw:

* a scalar parameter or derived quantity: (draws, 1), so it broadcasts against the rest;
* one value per level of a grouping (or per entry of a sized vector): (draws, K);
* a correlation matrix: (draws, E, E);
* a row-level quantity: (draws, N).

The same `Simulator` serves K-fold cross-validation: `given` fixes some parameters (a fit's
posterior draws) and only what is missing — group levels the fit never saw — is drawn from the
prior, conditional on the given hyperparameters (brms's `allow_new_levels`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from scipy import special, stats

from mlmdsl.calibration.densities import DensityError, row_log_density, scipy_distribution
from mlmdsl.compiler import ast
from mlmdsl.compiler.evaluate import EvalError, evaluate
from mlmdsl.compiler.families import Family
from mlmdsl.compiler.ir import ROWS, CheckedModel, DataVar, Derived, Likelihood, Modelled, Param
from mlmdsl.data import BoundData
from mlmdsl.posterior import families_extra
from mlmdsl.posterior.predict import family_draw

__all__ = ["PriorError", "Simulator"]


class PriorError(ValueError):
    """The model cannot be simulated from its priors (improper prior, unsupported family...)."""


_INVERSE_LINKS = {
    "identity": lambda x: x,
    "logit": special.expit,
    "log": np.exp,
    "probit": special.ndtr,
    "cloglog": lambda x: -np.expm1(-np.exp(x)),
}


def _scipy_prior(family: Family, args: list[np.ndarray]) -> Any:
    """The prior as a frozen scipy distribution (broadcasting its arguments): the outcomes' table
    (densities.py) and the half-distributions and Uniform, which only priors use."""
    name = family.name
    if name == "HalfNormal":
        return stats.halfnorm(scale=args[0])
    if name == "HalfCauchy":
        return stats.halfcauchy(scale=args[0])
    if name == "HalfStudentT":
        # |t|: a t truncated at 0 below, which the draw's bounds take care of.
        return stats.t(args[0], 0.0, args[1])
    if name == "Uniform":
        return stats.uniform(args[0], args[1] - args[0])
    try:
        return scipy_distribution(name, args)
    except DensityError:
        raise PriorError(f"drawing from a {name} prior is not supported") from None


_HALF = {"HalfNormal", "HalfCauchy", "HalfStudentT"}


class _Env(Mapping[str, Any]):
    """The evaluator's view at one domain: data given at that domain, every model quantity."""

    def __init__(self, sim: Simulator, domain: str) -> None:
        self.sim = sim
        self.domain = domain

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.sim.knows(key, self.domain)

    def __getitem__(self, key: str) -> Any:
        return self.sim.lookup(key, self.domain)

    def __iter__(self) -> Iterator[str]:
        return iter(self.sim.values)

    def __len__(self) -> int:
        return len(self.sim.values)


class Simulator:
    """Prior draws of every quantity of `model` on the design of `bound`."""

    def __init__(
        self,
        model: CheckedModel,
        bound: BoundData,
        draws: int,
        rng: np.random.Generator,
        given: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        if draws < 1:
            raise PriorError(f"draws must be at least 1, got {draws}")
        self.m = model
        self.bound = bound
        self.s = draws
        self.rng = rng
        self.n = int(bound.stan_data["N"])
        # A grouped parameter's given draws carry NaN at the levels the fit did not see.
        self.given = dict(given or {})
        self.params = {p.name: p for p in model.params}
        self.derived = {d.name: d for d in model.derived}
        self.data: dict[tuple[str, str], DataVar] = {(dv.name, dv.level): dv for dv in model.data}
        self.values: dict[str, np.ndarray] = {}
        self.busy: set[str] = set()

    # -- sizes -----------------------------------------------------------------------------
    def size(self, domain: str) -> int:
        if domain == ROWS:
            return self.n
        return int(self.bound.stan_data[self.m.groupings[domain].stan_size])

    def stan_size(self, text: str) -> int:
        """A Stan size expression ("K_response - 1", "2") with the data's sizes."""
        env = {k: float(v) for k, v in self.bound.stan_data.items() if np.ndim(v) == 0}
        try:
            return int(eval(text, {"__builtins__": {}}, env))  # noqa: S307 - sizes the compiler wrote
        except Exception as exc:  # pragma: no cover - the compiler writes only sizes and numbers
            raise PriorError(f"cannot work out the size `{text}` from the data") from exc

    # -- names -----------------------------------------------------------------------------
    def knows(self, name: str, domain: str) -> bool:
        known = (name, domain) in self.data or name in self.params or name in self.derived
        return known or any(c.name == name for c in self.m.modelled)

    def lookup(self, name: str, domain: str) -> Any:
        dv = self.data.get((name, domain))
        if dv is not None and dv.in_stan and dv.kind != "outcome":
            return np.asarray(self.bound.stan_data[dv.stan])
        if name in self.params:
            return self.param(name)
        d = self.derived.get(name)
        if d is not None:
            return self.derived_value(d)
        c = next((c for c in self.m.modelled if c.name == name), None)
        if c is not None:
            return self.modelled(c)
        raise KeyError(name)

    def modelled(self, c: Modelled) -> np.ndarray:
        """A modelled column (draws, cells): the data where observed, its own line's draw in the
        missing cells (rows, or levels at group level); a discrete one is its data."""
        if c.name in self.values:
            return self.values[c.name]
        self.enter(c.name)
        dv = next(dv for dv in self.m.data_vars(c.name, c.level) if dv.kind == "outcome")
        observed = np.asarray(self.bound.stan_data[dv.stan], dtype=float)
        value = np.broadcast_to(observed, (self.s, observed.size)).copy()
        if not c.discrete:
            cells = np.asarray(self.bound.stan_data[c.missing_rows], dtype=np.int64) - 1
            if c.prior is not None:
                family, args, stmt = c.prior.family, c.prior.args, c.prior.stmt
            else:
                lk = next(lk for lk in self.m.likelihoods if lk.outcome == c.name)
                family, args, stmt = lk.family, lk.args, lk.stmt
            shape = (self.s, observed.size)
            evaluated = [np.broadcast_to(np.asarray(self.eval(a, stmt, c.level), dtype=float), shape) for a in args]
            value[:, cells] = family_draw(family, evaluated, self.rng, shape)[:, cells]
        self.values[c.name] = value
        self.busy.discard(c.name)
        return value

    def letter(self, stmt: ast.Sample | ast.Assign) -> str:
        return self.m.statement_letters.get(id(stmt), self.m.row_letter)

    def eval(self, expr: ast.Expr, stmt: ast.Sample | ast.Assign, domain: str) -> Any:
        try:
            return evaluate(expr, _Env(self, domain), self.letter(stmt))
        except EvalError as exc:
            raise PriorError(f"line {stmt.span.line}: cannot simulate `{ast.to_text(expr)}`: {exc}") from None

    # -- derived quantities ----------------------------------------------------------------
    def derived_value(self, d: Derived) -> np.ndarray:
        if d.name not in self.values:
            self.enter(d.name)
            domain = ROWS if d.level is None else d.level
            value = np.asarray(self.eval(d.rhs, d.stmt, domain), dtype=float)
            value = _INVERSE_LINKS[d.link](value)
            width = 1 if d.level is None else self.size(d.level)
            self.values[d.name] = np.broadcast_to(value, (self.s, width)) if value.ndim < 2 else value
            self.busy.discard(d.name)
        return self.values[d.name]

    def enter(self, name: str) -> None:
        if name in self.busy:  # the checker rejects cycles; this guards the simulator itself
            raise PriorError(f"`{name}` depends on itself")
        self.busy.add(name)

    # -- parameters ------------------------------------------------------------------------
    def param(self, name: str) -> np.ndarray:
        if name not in self.values:
            p = self.params[name]
            self.enter(name)
            if p.block is not None:
                self.draw_block(p)
            else:
                self.values[name] = self.keep_given(p, self.draw(p))
            self.busy.discard(name)
        return self.values[name]

    def keep_given(self, p: Param, drawn: np.ndarray) -> np.ndarray:
        """Given draws win; a given array's NaN entries (unseen levels) keep the prior draw."""
        if p.name not in self.given:
            return drawn
        fixed = np.asarray(self.given[p.name], dtype=float).reshape(drawn.shape)
        return np.where(np.isnan(fixed), drawn, fixed)

    def shape(self, p: Param) -> tuple[int, ...]:
        if p.shape == "scalar":
            return (self.s, 1)
        if p.shape == "group":
            return (self.s, self.size(str(p.domain)))
        assert p.size is not None
        return (self.s, self.stan_size(p.size))

    def draw(self, p: Param) -> np.ndarray:
        family = p.prior.family
        if p.shape == "corr":
            eta = np.asarray(self.eval(p.prior.args[0], p.prior.stmt, ROWS), dtype=float)
            dim = self.stan_size(str(p.size))
            return lkj_corr(np.broadcast_to(eta, (self.s, 1))[:, 0], dim, self.rng)
        if family.name == "Dirichlet":  # a simplex of K, K the outcome's categories (data)
            k = self.stan_size(str(p.size))
            alpha = p.prior.args[0]
            numbers = [a.value for a in alpha.items] if isinstance(alpha, ast.VectorLit) else [alpha.value] * k  # type: ignore[attr-defined]
            return self.rng.dirichlet(numbers, self.s)
        if family.name == "MVNormal":
            raise PriorError(f"`{p.name}`: an MVNormal prior needs correlated effects `[a, b][j] ~ MVNormal(...)`")
        domain = str(p.domain) if p.shape == "group" else ROWS
        shape = self.shape(p)
        args = [
            np.broadcast_to(np.asarray(self.eval(a, p.prior.stmt, domain), dtype=float), shape) for a in p.prior.args
        ]
        values = self.truncated(p, family, args, shape)
        return np.sort(values, axis=-1) if p.ordered else values

    def bounds(self, p: Param) -> tuple[float, float]:
        def number(text: str | None, default: float) -> float:
            if text is None:
                return default
            try:
                return float(text)
            except ValueError:
                raise PriorError(
                    f"`{p.name}` (line {p.line}) has the bound `{text}`, which prior simulation cannot use yet"
                ) from None

        return number(p.lower, -np.inf), number(p.upper, np.inf)

    def truncated(self, p: Param, family: Family, args: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
        """Draws of the prior restricted to the parameter's constraints: a `<lower=0>` scale with
        a Normal prior is half-normal (Stan's density is the prior times the indicator of the
        constrained set, normalised: a truncated distribution)."""
        where = f"`{p.name}` (line {p.prior.stmt.span.line}: {ast.to_text(p.prior.stmt.rhs)})"
        if family.name == "Uniform" and not (np.all(np.isfinite(args[0])) and np.all(np.isfinite(args[1]))):
            raise PriorError(f"the prior of {where} is flat (improper): prior simulation needs a proper prior")
        if not all(np.all(np.isfinite(a)) for a in args):
            raise PriorError(f"the prior of {where} has non-finite arguments: it is improper")
        for (arg_name, kind), a in zip(family.args, args, strict=True):
            if kind in ("scale", "positive") and np.any(a <= 0):
                raise PriorError(f"the prior of {where} has {arg_name} <= 0: it is not a proper distribution")
        dist = _scipy_prior(family, args)
        lower, upper = self.bounds(p)
        if family.name in _HALF:
            lower = max(lower, 0.0)
        lo = dist.cdf(lower) if np.isfinite(lower) else np.zeros(shape)
        hi = dist.cdf(upper) if np.isfinite(upper) else np.ones(shape)
        if np.all(lo == 0) and np.all(hi == 1):
            return np.asarray(dist.rvs(size=shape, random_state=self.rng), dtype=float)
        if np.any(hi - lo <= 0):
            raise PriorError(f"the prior of {where} puts no mass inside the bounds of `{p.name}`")
        u = lo + (hi - lo) * self.rng.random(shape)
        return np.clip(np.asarray(dist.ppf(u), dtype=float), lower, upper)

    def draw_block(self, p: Param) -> None:
        """Correlated effects `[a, b][j] ~ MVNormal([abar, bbar], Rho, tau)`, drawn together:
        effects = mean + diag(tau) L z with L the Cholesky factor of Rho."""
        block = p.block
        assert block is not None
        stmt = block.stmt
        k = self.size(block.grouping)
        means = [
            np.broadcast_to(np.asarray(self.eval(m, stmt, block.grouping), dtype=float), (self.s, k))
            for m in block.means
        ]
        rho = np.broadcast_to(np.asarray(self.param(block.corr), dtype=float), (self.s, block.size, block.size))
        tau = np.asarray(self.param(block.scales), dtype=float).reshape(self.s, -1)
        tau = np.broadcast_to(tau, (self.s, block.size))
        chol = np.linalg.cholesky(rho + 1e-12 * np.eye(block.size))
        z = self.rng.standard_normal((self.s, k, block.size))
        joint = np.stack(means, axis=-1) + np.einsum("sij,skj->ski", tau[:, :, None] * chol, z)
        for position, name in enumerate(block.effects):
            self.values[name] = self.keep_given(self.params[name], joint[..., position])

    # -- outcomes --------------------------------------------------------------------------
    def likelihood_args(self, lk: Likelihood) -> list[np.ndarray]:
        """The likelihood's arguments per draw and row: (draws, N); cutpoints stay (draws, K-1)."""
        out = []
        for (_, kind), arg in zip(lk.family.args, lk.args, strict=True):
            value = np.asarray(self.eval(arg, lk.stmt, ROWS), dtype=float)
            if kind == "ordered":
                out.append(value.reshape(self.s, -1))
            else:
                out.append(np.broadcast_to(value, (self.s, self.n)))
        return out

    def category_probabilities(self, lk: Likelihood) -> np.ndarray:
        """A Categorical likelihood's P(y = k) per draw and row: (draws, N, K)."""
        shape = (self.s, self.n)
        arg = lk.args[0]
        if isinstance(arg, ast.Call):  # softmax(s1, ..., sK)
            scores = [np.asarray(self.eval(a, lk.stmt, ROWS), dtype=float) for a in arg.args]
            return families_extra.categorical_probabilities(scores, None, shape)
        if isinstance(arg, ast.Name):  # an estimated simplex: its prior draws, (draws, K)
            return families_extra.categorical_probabilities(None, self.param(arg.id), shape)
        return families_extra.categorical_probabilities(None, [a.value for a in arg.items], shape)  # type: ignore[attr-defined]

    def outcome(self, lk: Likelihood) -> np.ndarray:
        """One simulated outcome per draw and row: (draws, N). A censored outcome is simulated
        uncensored, a truncated one within its bounds, a Categorical one from its probabilities."""
        shape = (self.s, self.n)
        if lk.family.name == "Categorical":
            return families_extra.categorical_draw(self.category_probabilities(lk), self.rng)
        args = self.likelihood_args(lk)
        if lk.truncated:
            low, high = families_extra.truncation_bounds(lk, lambda e: self.eval(e, lk.stmt, ROWS))
            return families_extra.truncated_draw(lk.family.name, lk.family.discrete, args, low, high, self.rng, shape)
        return family_draw(lk.family, args, self.rng, shape)

    def log_likelihood(self, lk: Likelihood, y: np.ndarray, codes: np.ndarray | None = None) -> np.ndarray:
        """log p(y | draw) per draw and row of likelihood `lk`, the program's log_lik: (draws, N).
        y is (N,), category codes 1..K for ordered and Categorical outcomes. A censored row's term
        reads `codes` (-1/0/1 per row), by default the design's."""
        if lk.family.name == "Categorical":
            args = [self.category_probabilities(lk)]
        else:
            args = self.likelihood_args(lk)
        if codes is None and lk.censoring is not None:
            codes = np.asarray(self.bound.stan_data[lk.censoring])
        bounds = None
        if lk.truncated:  # numbers, or a bound column's values on this design's rows
            bounds = families_extra.truncation_bounds(lk, lambda e: self.eval(e, lk.stmt, ROWS))
        try:
            return row_log_density(lk, args, y, codes, bounds)
        except DensityError as exc:
            raise PriorError(str(exc)) from None

    def everything(self) -> None:
        """Draw every parameter and compute every derived quantity (for the `prior` group)."""
        for p in self.m.params:
            self.param(p.name)
        for d in self.m.derived:
            if not d.data_only:
                self.derived_value(d)
        for c in self.m.modelled:
            self.modelled(c)


def lkj_corr(eta: np.ndarray, dim: int, rng: np.random.Generator) -> np.ndarray:
    """Correlation matrices from LKJ(eta), one per entry of eta: the onion method
    (Lewandowski, Kurowicka & Joe 2009), which numpy/scipy do not provide."""
    s = eta.shape[0]
    out = np.tile(np.eye(dim), (s, 1, 1))
    if dim == 1:
        return out
    beta = eta + (dim - 2) / 2
    r12 = 2 * rng.beta(beta, beta) - 1
    out[:, 0, 1] = out[:, 1, 0] = r12
    for k in range(2, dim):
        beta = beta - 0.5
        y = rng.beta(k / 2, beta)
        u = rng.standard_normal((s, k))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        w = np.sqrt(y)[:, None] * u
        chol = np.linalg.cholesky(out[:, :k, :k])
        z = np.einsum("sij,sj->si", chol, w)
        out[:, :k, k] = z
        out[:, k, :k] = z
    return out
