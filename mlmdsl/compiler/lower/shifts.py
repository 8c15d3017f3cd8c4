"""The mean of a varying intercept, sampled apart from the cutpoints it is confounded with.

In `y[i] ~ OrderedLogistic(phi[i], cutpoints)` with `phi[i] = ... + a[id[i]]` and
`a[j] ~ Normal(0, sigma_a)`, the likelihood sees only `a[j] - cutpoints`: moving every `a[j]` and
every cutpoint by the same amount changes nothing but the priors. With many rows per level the
cutpoints are known to a few hundredths while the mean of `a` is held only by its prior
(sd `sigma_a / sqrt(N_id)`), so the posterior is a long thin ridge along that shared shift,
which a diagonal metric cannot follow (Trolley, 331 persons: cutpoints' ESS ~45 per 1,000
draws, 31 leapfrog steps per draw). brms, bambi and ulam sample this ridge as it is.

Lowering samples instead, exactly the same posterior, through a linear map with a constant
Jacobian:
    a_mean, a_dev       a = a_mean + sum_to_zero_basis(a_dev)   (a_dev: N_id - 1 free values)
    cutpoints_rel       cutpoints = cutpoints_rel + mean(a)
so the likelihood depends on `cutpoints_rel` and `a_dev` only, and `a_mean` on its prior
alone. The priors stay on `a` and `cutpoints` as written (a linear map needs no Jacobian
term), and `a` and `cutpoints` are transformed parameters under their own names, so results,
predictions and log_lik are unchanged. A non-centred `a` gets the same split of its standard
normal `z_a` (orthonormal, so `z_a ~ std_normal()` keeps its meaning).

`sum_to_zero_basis` is the transform of Stan's `sum_to_zero_vector` (2.36), written as a
function so the program also compiles with older stanc (httpstan's is 2.35).
"""

from __future__ import annotations

from dataclasses import dataclass

from mlmdsl.compiler import ast
from mlmdsl.compiler.ir import ROWS, CheckedModel, Param


@dataclass(frozen=True)
class MeanShift:
    effect: str  # user name of the varying intercept (a)
    cutpoints: str  # user name of the cutpoints it shifts


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
    """Each (varying intercept, cutpoints) pair the shift applies to: an ordered-logistic
    likelihood with cutpoints estimated, whose linear predictor adds `a[g[i]]` once, `a` a plain
    varying effect with prior Normal(0, scale). The checker gives each ordered outcome its own
    cutpoints and lets no other expression use them, so the cutpoints can be written last
    among the transformed parameters."""
    out: list[MeanShift] = []
    for lk in model.likelihoods:
        if lk.family.name != "OrderedLogistic" or not isinstance(lk.args[1], ast.Name):
            continue
        cut = model.param(lk.args[1].id)
        if cut is None or not cut.ordered:
            continue
        terms = _additive_terms(_resolved(model, lk.args[0]))
        for sign, term in terms:
            p = _intercept_of(model, term)
            if sign > 0 and p is not None and _count(terms, p.name) == 1:
                out.append(MeanShift(p.name, cut.name))
    return tuple(out)


def _resolved(model: CheckedModel, e: ast.Expr) -> ast.Expr:
    """`phi[i]` -> the right-hand side of `phi[i] = ...` (row-level, identity link), repeatedly."""
    match e:
        case ast.Index(base=ast.Name(id=name), indices=(ast.Name(),)):
            d = model.derived_named(name)
            if d is not None and d.level == ROWS and d.link == "identity" and not d.data_only:
                return _resolved(model, d.rhs)
        case ast.BinOp(op=op, left=left, right=right) if op in "+-":
            return ast.BinOp(op, _resolved(model, left), _resolved(model, right), e.span)
    return e


def _additive_terms(e: ast.Expr, sign: int = 1) -> list[tuple[int, ast.Expr]]:
    match e:
        case ast.BinOp(op="+", left=left, right=right):
            return _additive_terms(left, sign) + _additive_terms(right, sign)
        case ast.BinOp(op="-", left=left, right=right):
            return _additive_terms(left, sign) + _additive_terms(right, -sign)
        case ast.Neg(operand=operand):
            return _additive_terms(operand, -sign)
    return [(sign, e)]


def _count(terms: list[tuple[int, ast.Expr]], name: str) -> int:
    return sum(1 for _, t in terms if name in ast.names_in(t))


def _intercept_of(model: CheckedModel, term: ast.Expr) -> Param | None:
    """`a[g[i]]` with `a` a varying effect of grouping `g`, sampled on its own (no block, GP or
    sum-to-zero constraint) with prior Normal(0, scale)."""
    match term:
        case ast.Index(base=ast.Name(id=name), indices=(ast.Index(base=ast.Name(id=g), indices=(ast.Name(),)),)):
            p = model.param(name)
            dv = model.data_var(g)
            if p is None or dv is None or dv.kind != "index" or p.shape != "group":
                return None
            if (dv.grouping or dv.name) != p.domain or p.block is not None or p.gp is not None or p.sum_to_zero:
                return None
            prior = p.prior
            if prior.family.name != "Normal" or not (isinstance(prior.args[0], ast.Num) and prior.args[0].value == 0):
                return None
            if p.lower is not None or p.upper is not None:
                return None
            return p
    return None
