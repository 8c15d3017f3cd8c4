"""A Normal varying intercept integrated out of a Normal likelihood, and drawn afterwards.

In the lecture's partial-pooling model

    con[i] ~ Normal(mu[i], sigma)
    mu[i] = alpha[id[i]]
    alpha[j] ~ Normal(abar, sigma_a)

each `alpha[j]` meets the data only through its level's rows, and a Normal mean under a Normal
prior is conjugate. Given `n_j` rows with mean `ybar_j` and sum of squares `SS_j` about it,

    prod_i Normal(y_ij | alpha_j, sigma) = Normal(ybar_j | alpha_j, sigma / sqrt(n_j))
                                           * sigma^-(n_j - 1) * exp(-SS_j / (2 sigma^2)) * const

so integrating `alpha_j` out leaves `ybar_j ~ Normal(abar, sqrt(sigma_a^2 + sigma^2 / n_j))`,
and given the other parameters `alpha_j` is Normal with precision `1 / sigma_a^2 + n_j / sigma^2`
and mean `(abar / sigma_a^2 + n_j ybar_j / sigma^2) / precision` (the Stan User's Guide's
"Marginalization" and "Exploiting sufficient statistics"; Gelman et al., BDA3 ch. 5).

Lowering then samples only `abar`, `sigma_a` and `sigma` with NUTS, the likelihood one term per
level, and draws each `alpha[j]` in generated quantities from that exact conditional: the joint
draws are from the same posterior, p(abar, sigma_a, sigma | y) p(alpha | abar, sigma_a, sigma, y).
The funnel between `alpha` and `sigma_a` that centring or non-centring trades off is gone.
Everything after the draws (log_lik, replicates, results, predictions) reads `alpha` as before.
brms, bambi and ulam sample `alpha` as it is written.

It applies where nothing else reads `alpha`: a single Normal likelihood whose mean is
`alpha[g[i]]` plus terms the same for every row (`a + alpha[g[i]]`), whose sigma is the same
for every row, and `alpha[j] ~ Normal(loc, scale)` with loc and scale the same for every level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlmdsl.compiler import ast
from mlmdsl.compiler.ir import CheckedModel, DataVar, Param
from mlmdsl.compiler.lower.linear import name_uses, product, signed_factors
from mlmdsl.compiler.lower.program import Code, Line, stmt_comment, wrap
from mlmdsl.compiler.lower.shifts import varying_effect


@dataclass(frozen=True)
class MarginalIntercept:
    effect: str  # user name of the varying intercept integrated out (alpha)
    index: DataVar  # the row index column it is read through (id)
    offset: tuple[tuple[int, ast.Expr], ...]  # signed terms of the mean beside it, row-invariant
    inlined: frozenset[str]  # row-level means followed into (`mu`): not computed in the model block


def marginal_intercept(model: CheckedModel) -> MarginalIntercept | None:
    """The plan for the model's single Normal likelihood, or None where it does not apply."""
    if len(model.likelihoods) != 1 or model.modelled or model.gps:
        return None
    lk = model.likelihoods[0]
    if lk.family.name != "Normal" or lk.censoring is not None or lk.truncated:
        return None
    mean, sigma = lk.args  # Normal(mu, sigma)
    if not _row_invariant(model, sigma):
        return None
    inlined: set[str] = set()
    factored = signed_factors(model, mean, 1, inlined)  # row-level identity means followed
    if factored is None:
        return None
    terms = [(sign, product(factors)) for sign, factors in factored]
    effects = [(sign, p) for sign, t in terms if (p := varying_effect(model, t)) is not None]
    if len(effects) != 1 or effects[0][0] < 0:
        return None
    p = effects[0][1]
    offset = tuple((sign, t) for sign, t in terms if varying_effect(model, t) is not p)
    if len(offset) != len(terms) - 1 or not all(_row_invariant(model, t) for _, t in offset):
        return None
    if not _plain_normal(model, p) or _form_asked(model, p):
        return None
    uses = name_uses(model)
    # Read once, in the mean: no other statement (a group-level derived, another prior) needs it.
    # An inlined mean is read twice: its definition's left side and the one use followed.
    if uses.get(p.name, 0) != 2 or any(uses.get(d, 0) != 2 for d in inlined):
        return None
    index = next(t for _, t in terms if varying_effect(model, t) is p).indices[0]  # type: ignore[attr-defined]
    dv = model.data_var(index.base.id)
    assert dv is not None  # varying_effect checked it is an index column
    return MarginalIntercept(p.name, dv, offset, frozenset(inlined))


def _row_invariant(model: CheckedModel, e: ast.Expr) -> bool:
    """The same value for every row and level: numbers and scalar parameters or derived
    scalars, combined by arithmetic and functions; no indexing, no row data."""
    for node in ast.walk(e):
        if isinstance(node, ast.Index | ast.VectorLit):
            return False
        if isinstance(node, ast.Name):
            p = model.param(node.id)
            d = model.derived_named(node.id)
            if not ((p is not None and p.shape == "scalar") or (d is not None and d.level is None)):
                return False
    return True


def _form_asked(model: CheckedModel, p: Param) -> bool:
    """The user chose how to sample it (`@centered`/`@noncentered` on its line, or the file's
    `@centered`): that program is kept."""
    if any(a.name in ("centered", "noncentered") for a in p.prior.stmt.annotations):
        return True
    return any(isinstance(s, ast.Directive) and s.name == "centered" for s in model.program.statements)


def _plain_normal(model: CheckedModel, p: Param) -> bool:
    if p.prior.family.name != "Normal":
        return False
    loc, scale = p.prior.args
    return all(_row_invariant(model, a) and p.name not in ast.names_in(a) for a in (loc, scale))


# ---- the Stan program (called by the lowering passes with the lowerer, `lw`) -------------------
@dataclass(frozen=True)
class MarginalNames:
    """Stan names of the per-level sums (transformed data) the likelihood and the draws read."""

    n: str  # rows per level (all levels; 0 for a level without rows)
    total: str  # outcome summed per level (all levels)
    n_with: str  # the number of levels with rows
    with_rows: str  # those levels
    mean: str  # outcome's mean per level with rows
    n_of: str  # rows per level with rows
    ss: str  # sum of squares of the outcome about its level's mean, over all rows


def transformed_data(lw: Any, plan: MarginalIntercept) -> MarginalNames:
    """The level sums, computed once from the rows: the likelihood then has one term per level."""
    m = lw.m
    lk = m.likelihoods[0]
    y = m.data_var(lk.outcome).stan
    g, n_g = plan.index.stan, lw.size_of(m.param(plan.effect).domain)
    fresh = lw.names.fresh
    names = MarginalNames(
        n=fresh(f"n_{g}"),
        total=fresh(f"{y}_sum_{g}"),
        n_with=fresh(f"N_{g}_rows"),
        with_rows=fresh(f"{g}_rows"),
        mean=fresh(f"{y}_mean_{g}"),
        n_of=fresh(f"n_{g}_rows"),
        ss=fresh(f"{y}_ss_{g}"),
    )
    row, level = fresh("n"), fresh("j")
    why = f"line {m.param(plan.effect).line}: {plan.effect} is integrated out of line {lk.stmt.span.line}"
    lw.out.transformed_data += [
        Line(f"vector[{n_g}] {names.n} = rep_vector(0, {n_g});", f"rows per level of {plan.index.name}; {why}"),
        Line(f"vector[{n_g}] {names.total} = rep_vector(0, {n_g});", f"{lk.outcome} summed per level"),
        Line(f"for ({row} in 1:N) {{ {names.n}[{g}[{row}]] += 1; {names.total}[{g}[{row}]] += {y}[{row}]; }}"),
        Line(f"int {names.n_with} = 0;", "levels with rows"),
        Line(f"for ({level} in 1:{n_g}) {names.n_with} += {names.n}[{level}] > 0;"),
        Line(f"array[{names.n_with}] int {names.with_rows} = sort_indices_desc({names.n})[1:{names.n_with}];"),
        Line(f"vector[{names.n_with}] {names.n_of} = {names.n}[{names.with_rows}];"),
        Line(f"vector[{names.n_with}] {names.mean} = {names.total}[{names.with_rows}] ./ {names.n_of};",
             f"mean {lk.outcome} per level with rows"),
        Line(f"real {names.ss} = sum(square({y} - ({names.total} ./ fmax({names.n}, 1))[{g}]));",
             f"sum of squares of {lk.outcome} about its level's mean"),
    ]
    return names


def _parts(lw: Any, plan: MarginalIntercept) -> tuple[Code, Code, Code | None, Code]:
    """(loc, scale) of the effect's prior, the offset beside it in the mean (None: none), sigma."""
    m = lw.m
    lk, p = m.likelihoods[0], m.param(plan.effect)
    loc, scale = (lw.as_real(lw.expr(a, p.prior.stmt)) for a in p.prior.args)
    offset = None
    for sign, t in plan.offset:
        c = lw.as_real(lw.expr(t, lk.stmt))
        if offset is None:
            offset = c if sign > 0 else Code(f"-{wrap(c, 4)}", False, False, 4)
        else:
            offset = lw.binop("+" if sign > 0 else "-", offset, c)
    return loc, scale, offset, lw.as_real(lw.expr(lk.args[1], lk.stmt))


def model_lines(lw: Any, plan: MarginalIntercept, names: MarginalNames) -> list[Line]:
    """Each level's mean under its marginal, sqrt(scale^2 + sigma^2 / n), and the spread within
    levels (the term the rows' densities have beyond their mean's)."""
    m = lw.m
    lk, p = m.likelihoods[0], m.param(plan.effect)
    loc, scale, offset, sigma = _parts(lw, plan)
    centre = loc if offset is None else offset if loc.text == "0" else lw.binop("+", offset, loc)
    s = sigma.text
    comment = (
        f"{stmt_comment(m, lk.stmt)}, with line {p.line} ({m.program.statement_text(p.prior.stmt)}) "
        f"integrated out: one term per level of {plan.index.name}"
    )
    sd = f"sqrt(square({scale.text}) + square({s}) ./ {names.n_of})"
    within = f"target += -(N - {names.n_with}) * log({s}) - 0.5 * {names.ss} / square({s});"
    return [Line(f"{names.mean} ~ normal({centre.text}, {sd});", comment), Line(within, "the spread within levels")]


def draw_lines(lw: Any, plan: MarginalIntercept, names: MarginalNames) -> None:
    """The effect, drawn per level from its Normal given the other parameters and its rows; a
    level without rows from its prior (n = 0). First in generated quantities, so everything after
    reads it as a parameter."""
    m = lw.m
    p = m.param(plan.effect)
    loc, scale, offset, sigma = _parts(lw, plan)
    n_g = lw.size_of(p.domain)
    precision = lw.names.fresh(f"{p.stan}_precision")
    total = names.total if offset is None else f"({names.total} - {wrap(offset, 2)} * {names.n})"
    s2 = f"square({sigma.text})"
    prior = "" if loc.text == "0" else f"{wrap(loc, 2)} / square({scale.text}) + "
    mean = f"({prior}{total} / {s2}) ./ {precision}"
    lw.out.generated_quantities.append(
        Line(f"vector[{n_g}] {p.stan};", f"line {p.line}; drawn given the other parameters and its level's rows")
    )
    lw.out.gq_locals += [
        Line(
            f"vector[{n_g}] {precision} = inv(square({scale.text})) + {names.n} / {s2};",
            f"{stmt_comment(m, p.prior.stmt)}, integrated out of the likelihood: its conditional posterior",
        ),
        Line(f"{p.stan} = to_vector(normal_rng({mean}, inv_sqrt({precision})));"),
    ]
