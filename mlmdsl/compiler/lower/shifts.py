"""The mean of a varying intercept, sampled apart from the parameter it is confounded with.

In `y[i] ~ OrderedLogistic(phi[i], cutpoints)` with `phi[i] = ... + a[id[i]]` and
`a[j] ~ Normal(0, sigma_a)`, the likelihood sees only `a[j] - cutpoints`: moving every `a[j]` and
every cutpoint by the same amount changes nothing but the priors. With many rows per level the
cutpoints are known to a few hundredths while the mean of `a` is held only by its prior
(sd `sigma_a / sqrt(N_id)`), so the posterior is a long thin ridge along that shared shift,
which a diagonal metric cannot follow (Trolley, 331 persons: cutpoints' ESS ~45 per 1,000
draws, 31 leapfrog steps per draw). The same ridge joins a zero-mean intercept to a population
intercept added beside it (`logit(p[i]) = alpha + a[id[i]]`), or to the mean of another varying
intercept (chimpanzees: `a[actor[i]] + g[block[i]] + b[treatment[i]]` with `a[j] ~ Normal(abar,
sigma_a)`: the means of g and b move with abar and every a). brms, bambi and ulam sample these
ridges as they are.

Lowering samples instead, exactly the same posterior, through a linear map with a constant
Jacobian, for each such zero-mean intercept `g` (its *anchor* the parameter it moves with):
    g_mean, g_dev       g = g_mean + sum_to_zero_basis(g_dev)   (g_dev: N_g - 1 free values)
    cutpoints_rel       cutpoints = cutpoints_rel + mean(g)
    alpha_rel           alpha = alpha_rel - mean(g)               (an intercept beside g)
    abar_rel, a_rel     abar = abar_rel - mean(g), a = a_rel - mean(g)   (a centred; a
                        non-centred a = abar + sigma_a * z_a follows abar by itself)
so the likelihood no longer depends on `g_mean`, which is held by the priors alone. The priors
stay on the user's parameters as written (a linear map needs no Jacobian term), and those are
transformed parameters under their own names, so results, predictions and log_lik are
unchanged. A non-centred `g` gets the same split of its standard normal `z_g` (orthonormal, so
`z_g ~ std_normal()` keeps its meaning; then mean(g) = scale * z_g_mean).

`sum_to_zero_basis` is the transform of Stan's `sum_to_zero_vector` (2.36), written as a
function so the program also compiles with older stanc (httpstan's is 2.35).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mlmdsl.compiler import ast
from mlmdsl.compiler.ir import ROWS, CheckedModel, Param


@dataclass(frozen=True)
class MeanShift:
    effect: str  # user name of the zero-mean varying intercept whose mean moves (g)
    anchor: str  # user name of the parameter it moves with (cutpoints, alpha, abar)
    kind: Literal["cutpoints", "intercept", "location"]
    located: str | None = None  # kind "location": the varying intercept located at the anchor (a)


FUNCTION = (
    "vector sum_to_zero_basis(vector x) {",
    "  // x (n values) -> n + 1 values summing to zero, through an orthonormal basis of that",
    "  // subspace: Stan 2.36's sum_to_zero_vector transform",
    "  int n = rows(x);",
    "  vector[n] k = linspaced_vector(n, 1, n);",
    "  vector[n] w = x ./ sqrt(k .* (k + 1));",
    "  return append_row(reverse(cumulative_sum(reverse(w))), 0) - append_row(0, w .* k);",
    "}",
)


def mean_shifts(model: CheckedModel) -> tuple[MeanShift, ...]:
    """Each zero-mean varying intercept `g[h[i]]` added once (with a plus sign) to a likelihood's
    linear predictor, with the parameter its mean moves with there: an ordered outcome's
    cutpoints; else a scalar intercept added beside it; else the location `abar` of another
    varying intercept `a[k[i]] ~ Normal(abar, s)` added beside it. `g` is a plain varying effect
    with prior Normal(0, scale) (a non-centred one's scale a parameter or a number). Each effect
    and anchor is moved once, for the first likelihood that has them."""
    out: list[MeanShift] = []
    taken: set[str] = set()
    for lk in model.likelihoods:
        if lk.family.name == "OrderedLogistic":
            cut = model.param(lk.args[1].id) if isinstance(lk.args[1], ast.Name) else None
            terms = additive_terms(_resolved(model, lk.args[0]))
            anchor = (cut.name, "cutpoints", None) if cut is not None and cut.ordered else None
        else:
            terms = additive_terms(_resolved(model, lk.args[lk.family.mean_arg], any_link=True))
            anchor = _anchor(model, terms)
        if anchor is None or anchor[0] in taken:
            continue
        effects = [
            p
            for sign, term in terms
            if sign > 0 and (p := _intercept_of(model, term)) is not None and _count(terms, p.name) == 1
        ]
        effects = [p for p in effects if p.name not in taken and p.name != anchor[2]]
        for p in effects:
            out.append(MeanShift(p.name, anchor[0], anchor[1], anchor[2]))  # type: ignore[arg-type]
            taken.add(p.name)
        if effects:
            taken.add(anchor[0])
            if anchor[2]:
                taken.add(anchor[2])
    return tuple(out)


def _anchor(model: CheckedModel, terms: list[tuple[int, ast.Expr]]) -> tuple[str, str, str | None] | None:
    """A scalar intercept added once, else the location of a varying intercept added once."""
    for sign, term in terms:
        if sign > 0 and isinstance(term, ast.Name) and _count(terms, term.id) == 1:
            p = model.param(term.id)
            if p is not None and _free_scalar(p):
                return p.name, "intercept", None
    for sign, term in terms:
        a = varying_effect(model, term) if sign > 0 else None
        if a is None or _count(terms, a.name) != 1:
            continue
        loc = a.prior.args[0] if a.prior.family.name == "Normal" else None
        if isinstance(loc, ast.Name) and (abar := model.param(loc.id)) is not None and _free_scalar(abar):
            if _count(terms, abar.name) == 0 and abar.name not in ast.names_in(a.prior.args[1]):
                return abar.name, "location", a.name
    return None


def _free_scalar(p: Param) -> bool:
    return p.shape == "scalar" and p.lower is None and p.upper is None and p.noncentered is None


def _resolved(model: CheckedModel, e: ast.Expr, any_link: bool = False) -> ast.Expr:
    """`phi[i]` -> the right-hand side of `phi[i] = ...` (row-level; with any link, for the
    linear predictor of `logit(p[i]) = ...`, else the identity), repeatedly."""
    match e:
        case ast.Index(base=ast.Name(id=name), indices=(ast.Name(),)):
            d = model.derived_named(name)
            if d is not None and d.level == ROWS and (any_link or d.link == "identity") and not d.data_only:
                return _resolved(model, d.rhs)
        case ast.BinOp(op=op, left=left, right=right) if op in "+-":
            return ast.BinOp(op, _resolved(model, left), _resolved(model, right), e.span)
    return e


def additive_terms(e: ast.Expr, sign: int = 1) -> list[tuple[int, ast.Expr]]:
    match e:
        case ast.BinOp(op="+", left=left, right=right):
            return additive_terms(left, sign) + additive_terms(right, sign)
        case ast.BinOp(op="-", left=left, right=right):
            return additive_terms(left, sign) + additive_terms(right, -sign)
        case ast.Neg(operand=operand):
            return additive_terms(operand, -sign)
    return [(sign, e)]


def _count(terms: list[tuple[int, ast.Expr]], name: str) -> int:
    return sum(1 for _, t in terms if name in ast.names_in(t))


def varying_effect(model: CheckedModel, term: ast.Expr) -> Param | None:
    """`a[g[i]]` with `a` a varying effect of grouping `g`, sampled on its own (no block, GP,
    bounds or sum-to-zero constraint)."""
    match term:
        case ast.Index(base=ast.Name(id=name), indices=(ast.Index(base=ast.Name(id=g), indices=(ast.Name(),)),)):
            p = model.param(name)
            dv = model.data_var(g)
            if p is None or dv is None or dv.kind != "index" or p.shape != "group":
                return None
            if (dv.grouping or dv.name) != p.domain or p.block is not None or p.gp is not None or p.sum_to_zero:
                return None
            if p.lower is not None or p.upper is not None:
                return None
            return p
    return None


def _intercept_of(model: CheckedModel, term: ast.Expr) -> Param | None:
    """A varying intercept (`varying_effect`) with prior Normal(0, scale); non-centred, its scale a
    parameter or a number (its mean, scale * z_mean, is then known from the parameters alone)."""
    p = varying_effect(model, term)
    if p is None or p.prior.family.name != "Normal":
        return None
    loc, scale = p.prior.args[0], p.prior.args[1]
    if not (isinstance(loc, ast.Num) and loc.value == 0):
        return None
    if p.noncentered is not None and not (
        isinstance(scale, ast.Num) or (isinstance(scale, ast.Name) and model.param(scale.id) is not None)
    ):
        return None
    return p
