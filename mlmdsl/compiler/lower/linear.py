"""A Normal likelihood over cells whose rows differ in predictors that enter the mean linearly.

Cells (lower/cells.py) are rows sharing every value the likelihood reads. In the sleep study,
`mu[i] = a[Subject[i]] + b[Subject[i]] * Days[i]`, no two rows share (Subject, Days), so there are
as many cells as rows. But within one subject the mean is a straight line in Days, and a Normal
log density summed over a line's rows needs only a few sums of the data (the "sufficient
statistics" of linear regression):

    sum_i (y_i - mu_i)^2 = n (mu_mean - ybar)^2 + sum_k,l g_k g_l Sxx_kl - 2 sum_k g_k Sxy_k + Syy

where, per cell, g_k is the mean's coefficient of predictor x_k (the same for every row of the
cell), mu_mean = g_0 + sum_k g_k xbar_k the mean at the cell's mean predictors, and Sxx, Sxy, Syy
the sums of squares and products of the predictors and the outcome about their cell means (the
binder computes them, mlmdsl/data/cells.py; centred sums keep the subtraction accurate). With
the same sigma for the cell's rows, sum_i normal_lpdf(y_i | mu_i, sigma) = -n log(sigma) -
that sum / (2 sigma^2) up to a constant: exactly the same posterior. The sleep study's 180 rows
become 18 cells (one per subject); the generated quantities stay per row.

A predictor column x is *linear* when every use of it in the program is as a factor of a term
added to the likelihood's mean, `coef * x[i]` (or `x[i]`), whose coefficient reads no other linear
column; the cells are then keyed by the other row columns only. Row-level means defined by `=`
(`mu[i] = ...`) are followed into their right-hand sides when used once, and not computed in the
model block.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from mlmdsl.compiler import ast
from mlmdsl.compiler.ir import ROWS, CheckedModel, DataVar


@dataclass(frozen=True)
class LinearForm:
    """The likelihood's mean as intercept + sum_k slopes[k] * columns[k], per cell."""

    columns: tuple[DataVar, ...]  # the linear predictor columns, in order of first use
    intercept: ast.Expr | None  # the terms without a linear column (None: no such term)
    slopes: tuple[ast.Expr, ...]  # each column's coefficient (the sum of its terms')
    inlined: frozenset[str]  # row-level means followed into (not computed in the model block)
    mean_name: str  # the user's name of the mean (`mu`), for the Stan locals


@dataclass(frozen=True)
class ColumnNames:
    """Stan names of one linear column's cell statistics (shared with the binder)."""

    mean: str  # mean of x per cell
    ss: str  # sum of squares of x about its cell mean
    sp: str  # sum of products of x and the outcome about their cell means


def linear_form(model: CheckedModel) -> LinearForm | None:
    """The mean of a single Normal likelihood as a linear form in one or more predictor columns,
    or None (no such column: the cells, if any, are the plain ones)."""
    if len(model.likelihoods) != 1 or model.likelihoods[0].family.name != "Normal":
        return None
    lk = model.likelihoods[0]
    mean = lk.args[lk.family.mean_arg]
    inlined: set[str] = set()
    terms = signed_factors(model, mean, 1, inlined)
    if terms is None:
        return None
    uses = name_uses(model)
    # each term's factors, with the row column each one is (None: not a column)
    found = [(sign, [(f, row_column(model, f)) for f in factors]) for sign, factors in terms]
    candidates: dict[str, DataVar] = {}
    as_factor: dict[str, int] = {}
    for _, factors in found:
        for _, dv in factors:
            if dv is not None:
                candidates[dv.name] = dv
                as_factor[dv.name] = as_factor.get(dv.name, 0) + 1
    linear = {n for n in candidates if as_factor[n] == uses.get(n, 0)}
    # an inlined mean is read twice: its definition's left side and the one use followed
    if not linear or any(uses.get(d, 0) != 2 for d in inlined):
        return None
    rest: list[ast.Expr] = []  # signed terms without a linear column
    by_column: dict[str, list[ast.Expr]] = {}
    for sign, factors in found:
        cols = [dv.name for _, dv in factors if dv is not None and dv.name in linear]
        if len(cols) > 1:
            return None  # x[i] * z[i]: not linear in either
        coef = product([f for f, dv in factors if dv is None or dv.name not in linear])
        coef = ast.Neg(coef, coef.span) if sign < 0 else coef
        if cols:
            by_column.setdefault(cols[0], []).append(coef)
        else:
            rest.append(coef)
    columns = tuple(candidates[n] for n in by_column)
    mean_name = mean.base.id if isinstance(mean, ast.Index) and isinstance(mean.base, ast.Name) else "mu"
    return LinearForm(
        columns,
        _sum(rest) if rest else None,
        tuple(_sum(by_column[dv.name]) for dv in columns),
        frozenset(inlined),
        mean_name,
    )


def column_names(model: CheckedModel, form: LinearForm, taken: set[str]) -> dict[str, ColumnNames]:
    """Per linear column (user name), the Stan names of its statistics, distinct from `taken`
    (which they are added to), plus the cross products of each pair under `(x, z)` keys."""
    out: dict[str, ColumnNames] = {}

    def fresh(name: str) -> str:
        while name in taken:
            name += "_"
        taken.add(name)
        return name

    for dv in form.columns:
        out[dv.name] = ColumnNames(**{f.name: fresh(f"cell_{f.name}_{dv.stan}") for f in fields(ColumnNames)})
    return out


def cross_names(form: LinearForm, taken: set[str]) -> dict[tuple[str, str], str]:
    """The Stan name of the cross product of each pair of linear columns (user names, in order)."""
    out = {}
    cols = form.columns
    for k, x in enumerate(cols):
        for z in cols[k + 1 :]:
            name = f"cell_sp_{x.stan}_{z.stan}"
            while name in taken:
                name += "_"
            taken.add(name)
            out[(x.name, z.name)] = name
    return out


# ---- the analysis ---------------------------------------------------------------------------
def signed_factors(
    model: CheckedModel, e: ast.Expr, sign: int, inlined: set[str]
) -> list[tuple[int, list[ast.Expr]]] | None:
    """The signed additive terms of `e`, each as its list of factors; row-level means with the
    identity link followed into their definitions. None where a term is not a plain product."""
    match e:
        case ast.BinOp(op="+", left=left, right=right) | ast.BinOp(op="-", left=left, right=right):
            a = signed_factors(model, left, sign, inlined)
            b = signed_factors(model, right, sign if e.op == "+" else -sign, inlined)
            return None if a is None or b is None else a + b
        case ast.Neg(operand=operand):
            return signed_factors(model, operand, -sign, inlined)
        case ast.Index(base=ast.Name(id=name), indices=(ast.Name(),)):
            d = model.derived_named(name)
            if d is not None and d.level == ROWS and not d.data_only:
                if d.link != "identity":
                    return None
                inlined.add(name)
                return signed_factors(model, d.rhs, sign, inlined)
    factors = _factors(e)
    return [(sign, factors)]


def _factors(e: ast.Expr) -> list[ast.Expr]:
    if isinstance(e, ast.BinOp) and e.op == "*":
        return _factors(e.left) + _factors(e.right)
    return [e]


def row_column(model: CheckedModel, e: ast.Expr) -> DataVar | None:
    """`x[i]` for a row-level predictor column the Stan program reads (as values only, never as
    an index)."""
    match e:
        case ast.Index(base=ast.Name(id=name), indices=(ast.Name(),)):
            found = model.data_vars(name, ROWS)
            if len(found) == 1 and found[0].kind == "predictor" and found[0].in_stan:
                return found[0]
    return None


def name_uses(model: CheckedModel) -> dict[str, int]:
    """How often each name is read anywhere in the program (both sides of every statement)."""
    n: dict[str, int] = {}
    for st in model.program.statements:
        exprs = [getattr(st, "lhs", None), getattr(st, "rhs", None)]
        if isinstance(st, ast.Sample):
            exprs += list(ast.sample_extras(st))
        for e in exprs:
            if e is None:
                continue
            for node in ast.walk(e):
                if isinstance(node, ast.Name):
                    n[node.id] = n.get(node.id, 0) + 1
    return n


def product(factors: list[ast.Expr]) -> ast.Expr:
    if not factors:
        return ast.Num(1.0, "1", ast.NO_SPAN)
    out = factors[0]
    for f in factors[1:]:
        out = ast.BinOp("*", out, f, out.span)
    return out


def _sum(terms: list[ast.Expr]) -> ast.Expr:
    out = terms[0]
    for t in terms[1:]:
        if isinstance(t, ast.Neg):
            out = ast.BinOp("-", out, t.operand, out.span)
        else:
            out = ast.BinOp("+", out, t, out.span)
    return out
