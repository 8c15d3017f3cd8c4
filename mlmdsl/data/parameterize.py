"""Centred or non-centred, from the data: `Model.fit(..., parameterization="auto")`.

A varying effect `alpha[j] ~ Normal(abar, sigma_a)` samples best centred when each level's data
pin its value down (the likelihood dominates the prior: no funnel, and the non-centred form
would put the data's tight constraint on `sigma_a * z`), and non-centred when the data say
little per level (the prior dominates: the centred form has a funnel). Which one is the case is
the expected shrinkage of the level estimates toward the population mean,

    kappa_j = v_j / (v_j + s2_between),

where v_j is the sampling variance of level j's own estimate (on the linear predictor's scale)
and s2_between the spread of the true level effects. Both are estimated once from the bound
data by the method of moments, no pilot run:

- an intercept `a[g[i]]` is estimated per level by the level's mean outcome on the link scale:
  Normal-like and ordered outcomes, the mean (v_j = pooled within-level variance / n_j; the
  shrinkage is a ratio, so an ordered outcome's 1..K scale serves as well as its logit scale);
  Bernoulli/Binomial, the empirical logit of the level's successes (v_j = 1 / (n_j p (1 - p))
  with n_j the level's trials); Poisson/NegBinomial, the log of the level's mean count
  (v_j = 1 / (n_j lambda));
- a slope `b[g[i]] * x[i]` (continuous outcomes) by the level's least-squares slope
  (v_j = pooled residual variance / sum of squares of x within the level);
- s2_between = var(estimates) - mean(v_j), floored at 1 % of mean(v_j) (no visible spread
  between levels means shrinkage ~1: non-centred).

Centred when the median kappa over levels is below the outcome family's threshold (measured
below: 0.37 for Gaussian outcomes, 0.28 for the others). Correlated
effects share one choice: centred only when every effect of the block would be. The estimate
ignores the model's other terms (population slopes, crossed groupings), which is why it is a
heuristic: a line's `@centered`/`@noncentered` always wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlmdsl.compiler import (
    PARAMETERIZATIONS,  # noqa: F401  (re-exported)
    ast,
)
from mlmdsl.compiler.ir import ROWS, CheckedModel, Likelihood

if TYPE_CHECKING:
    from mlmdsl.data import BoundData

# Centred when the median expected shrinkage is below the outcome's threshold. Measured on stanli
# (ESS/s of the user's quantities, 4 chains): centred wins at kappa 0.01-0.27 everywhere
# (reedfrogs 0.09: 5x; mlm.csv 0.27: 7.6x; chimpanzees' actors 0.01) and non-centred from ~0.45
# (chimpanzees' blocks 0.99: centring them costs 10x). Between, the crossover depends on the
# outcome (2026-12-01, explicit standard-normal non-centred form, 500 + 500, seeds 1-3):
# - a Gaussian outcome (30 levels x 4 rows): centred 2.2x and 1.9x better at 0.34, even at 0.40
#   (0.9x), 2.7x worse at 0.51; the crossover is near 0.39. The moment estimate of kappa is
#   exact in form here, so the line sits just below the crossover: 0.37.
# - Binomial/Poisson/ordered outcomes (40 levels x 10 trials): centred 1.4x better at 0.27, 0.8x
#   at 0.32, even at 0.34, 5x worse at 0.47; one earlier run lost 0.59x at 0.29. Their v_j is a
#   large-count approximation that underestimates the noise of small counts (so kappa reads
#   low), and picking centred wrongly costs more than picking non-centred wrongly: 0.28.
CENTRED_BELOW_GAUSSIAN = 0.37
CENTRED_BELOW = 0.28  # every other outcome


def threshold_for(family: str) -> float:
    """The shrinkage below which a varying effect of this outcome family is sampled centred."""
    return CENTRED_BELOW_GAUSSIAN if family in _GAUSSIAN else CENTRED_BELOW


_GAUSSIAN = {"Normal", "StudentT", "LogNormal"}
_BINARY = {"Bernoulli", "Binomial"}
_COUNTS = {"Poisson", "NegBinomial"}


@dataclass(frozen=True)
class Choice:
    """The form chosen for one group-level statement (named by its first effect)."""

    name: str
    centered: bool
    reason: str  # completes "`alpha` is sampled centred — <reason>"
    shrinkage: float | None = None  # median expected shrinkage, when estimated
    per_level: float | None = None  # observations (trials) per level on average
    threshold: float | None = None  # centred below this shrinkage (the outcome family's)


@dataclass(frozen=True)
class _Term:
    param: str
    grouping: str
    kind: str  # "intercept", "slope", "other"
    slope_column: str | None = None
    likelihood: Likelihood | None = None


def choose(model: CheckedModel, bound: BoundData, threshold: float | None = None) -> dict[str, Choice]:
    """One Choice per group-level statement that could be either form; `threshold` overrides
    the outcome family's (threshold_for)."""
    terms = _terms(model)
    out: dict[str, Choice] = {}
    statements: dict[int, list[str]] = {}
    for p in model.params:
        if p.shape == "group" and p.role == "group":  # a prior with a free scale
            statements.setdefault(id(p.prior.stmt), []).append(p.name)
    for names in statements.values():
        estimates = [_estimate(model, bound, terms.get(n), n) for n in names]
        failed = next((e for e in estimates if isinstance(e, str)), None)
        if failed is not None:
            out[names[0]] = Choice(names[0], False, f"{failed}; non-centred by default")
            continue
        kappa, per_level, unit = max(estimates, key=lambda e: e[0])  # type: ignore[index]
        term = terms.get(names[0])
        family = term.likelihood.family.name if term is not None and term.likelihood is not None else ""
        limit = threshold if threshold is not None else threshold_for(family)
        centered = kappa < limit
        who = "" if len(names) == 1 else f"`{names[estimates.index((kappa, per_level, unit))]}`: "
        if centered:
            why = f"the data dominate the prior (estimated shrinkage {kappa:.2f})"
        else:
            why = f"the prior dominates the data (estimated shrinkage {kappa:.2f})"
        reason = f"{who}{_count(per_level)} {unit} per level on average; {why}"
        out[names[0]] = Choice(names[0], centered, reason, kappa, per_level, limit)
    return out


def _count(x: float) -> str:
    return f"{x:.0f}" if x >= 10 else f"{x:.1f}"


# ---- where each group-level parameter enters a likelihood ---------------------------------


def _terms(model: CheckedModel) -> dict[str, _Term]:
    """Group-level parameter -> how it enters a likelihood's linear predictor (the first use)."""
    group = {p.name: p.domain for p in model.params if p.shape == "group"}
    row_derived = {d.name: d for d in model.derived if d.level == ROWS and not d.data_only}
    found: dict[str, _Term] = {}

    def visit(e: ast.Expr, lk: Likelihood, seen: frozenset[str]) -> None:
        for term in ast.summands(e):
            name = _row_name(term, model.row_letter)
            if name in row_derived and name not in seen:
                visit(row_derived[name].rhs, lk, seen | {name})
                continue
            hit = _group_term(term, group, model)
            if hit is not None:
                found.setdefault(hit[0], _Term(hit[0], group[hit[0]], hit[1], hit[2], lk))  # type: ignore[arg-type]
                continue
            for n in ast.walk(term):
                if isinstance(n, ast.Name) and n.id in group:
                    found.setdefault(n.id, _Term(n.id, group[n.id], "other", None, lk))  # type: ignore[arg-type]

    for lk in model.likelihoods:
        visit(lk.args[lk.family.mean_arg], lk, frozenset())
    return found




def _row_name(e: ast.Expr, row: str) -> str | None:
    if isinstance(e, ast.Index) and isinstance(e.base, ast.Name) and isinstance(e.indices[0], ast.Name):
        if e.indices[0].id == row:
            return e.base.id
    return None


def _grouped(e: ast.Expr, group: dict[str, str | None]) -> str | None:
    """`a[g[i]]` with `a` a group-level parameter indexed by its own grouping: `a`."""
    if (
        isinstance(e, ast.Index)
        and isinstance(e.base, ast.Name)
        and e.base.id in group
        and isinstance(e.indices[0], ast.Index)
        and isinstance(e.indices[0].base, ast.Name)
        and e.indices[0].base.id == group[e.base.id]
    ):
        return e.base.id
    return None


def _group_term(e: ast.Expr, group: dict[str, str | None], model: CheckedModel) -> tuple[str, str, str | None] | None:
    name = _grouped(e, group)
    if name is not None:
        return name, "intercept", None
    if isinstance(e, ast.BinOp) and e.op == "*":
        for a, b in ((e.left, e.right), (e.right, e.left)):
            name = _grouped(a, group)
            col = _row_name(b, model.row_letter)
            if name is not None and col is not None:
                dv = model.data_var(col)
                if dv is not None and dv.kind == "predictor" and dv.in_stan:
                    return name, "slope", dv.stan
    return None


# ---- the estimates -----------------------------------------------------------------------


def _estimate(model: CheckedModel, bound: BoundData, term: _Term | None, name: str):
    """(median kappa, observations per level, unit) or a reason it cannot be estimated."""
    if term is None:
        return f"`{name}` does not enter a likelihood directly"
    if term.kind == "other":
        return f"`{name}` enters the linear predictor other than as an intercept or a slope"
    lk = term.likelihood
    assert lk is not None
    index = next((d for d in model.data if d.name == term.grouping and d.kind == "index" and d.level == ROWS), None)
    if index is None or index.stan not in bound.stan_data:
        return f"the levels of `{term.grouping}` are not known per row"
    codes = np.asarray(bound.stan_data[index.stan], dtype=int) - 1
    k = int(bound.stan_data[model.groupings[term.grouping].stan_size])
    y = np.asarray(bound.observed[lk.outcome], dtype=float)
    fam = lk.family.name
    if term.kind == "slope":
        if fam in _BINARY | _COUNTS or lk.family.support == "ordinal":
            return f"slopes of a {fam} outcome are not estimated from the data yet"
        x = np.asarray(bound.stan_data[term.slope_column], dtype=float)  # type: ignore[index]
        return _slope(_scale(y, fam), x, codes, k)
    if fam in _BINARY:
        trials = np.ones_like(y)
        if fam == "Binomial":
            n_arg = _row_name(lk.args[0], model.row_letter)
            dv = model.data_var(n_arg) if n_arg else None
            if dv is None or dv.stan not in bound.stan_data:
                return "the trials are not a data column"
            trials = np.asarray(bound.stan_data[dv.stan], dtype=float)
        return _binomial(y, trials, codes, k)
    if fam in _COUNTS:
        return _counts(y, codes, k)
    return _means(_scale(y, fam), codes, k)


def _scale(y: np.ndarray, fam: str) -> np.ndarray:
    return np.log(y) if fam in ("LogNormal", "Gamma") else y


def _kappa(est: np.ndarray, v: np.ndarray) -> float | str:
    ok = np.isfinite(est) & np.isfinite(v)
    est, v = est[ok], v[ok]
    if len(est) < 2:
        return "fewer than two levels to compare"
    between = max(float(np.var(est, ddof=1) - np.mean(v)), 0.01 * float(np.mean(v)))
    return float(np.median(v / (v + between)))


def _per_level(values: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(codes, weights=values, minlength=k)


def _means(y: np.ndarray, codes: np.ndarray, k: int):
    n = np.bincount(codes, minlength=k).astype(float)
    seen = n > 0
    mean = _per_level(y, codes, k) / np.where(seen, n, 1)
    resid = y - mean[codes]
    dof = len(y) - int(seen.sum())
    if dof < 1:
        return "one observation per level: the within-level spread is unknown"
    within = float(resid @ resid) / dof
    kappa = _kappa(mean[seen], within / n[seen])
    return kappa if isinstance(kappa, str) else (kappa, float(n[seen].mean()), "observations")


def _binomial(s: np.ndarray, trials: np.ndarray, codes: np.ndarray, k: int):
    n = _per_level(trials, codes, k)
    succ = _per_level(s, codes, k)
    seen = n > 0
    p = float(np.clip(succ.sum() / max(n.sum(), 1), 0.01, 0.99))
    est = np.log((succ + 0.5) / (n - succ + 0.5))
    kappa = _kappa(est[seen], 1 / (n[seen] * p * (1 - p)))
    return kappa if isinstance(kappa, str) else (kappa, float(n[seen].mean()), "trials")


def _counts(y: np.ndarray, codes: np.ndarray, k: int):
    n = np.bincount(codes, minlength=k).astype(float)
    seen = n > 0
    lam = max(float(y.mean()), 0.1)
    est = np.log((_per_level(y, codes, k)[seen] + 0.5) / n[seen])
    kappa = _kappa(est, 1 / (n[seen] * lam))
    return kappa if isinstance(kappa, str) else (kappa, float(n[seen].mean()), "observations")


def _slope(y: np.ndarray, x: np.ndarray, codes: np.ndarray, k: int):
    n = np.bincount(codes, minlength=k).astype(float)
    safe = np.where(n > 0, n, 1)
    xc = x - (_per_level(x, codes, k) / safe)[codes]
    yc = y - (_per_level(y, codes, k) / safe)[codes]
    sxx = _per_level(xc * xc, codes, k)
    sxy = _per_level(xc * yc, codes, k)
    ok = sxx > 1e-12 * max(float(sxx.max()), 1e-300)
    slope = np.where(ok, sxy / np.where(ok, sxx, 1), 0.0)
    resid = yc - slope[codes] * xc
    dof = len(y) - 2 * int(ok.sum()) - int(((n > 0) & ~ok).sum())
    if dof < 1:
        return "too few observations per level to estimate a slope's precision"
    s2 = float(resid @ resid) / dof
    kappa = _kappa(slope[ok], s2 / sxx[ok])
    return kappa if isinstance(kappa, str) else (kappa, float(n[ok].mean()), "observations")
