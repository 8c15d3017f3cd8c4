"""Pass 5b, outcomes: what the Language II outcome forms accept (LANGUAGE.md, "More outcome
families", "Censoring and truncation").

Censoring `| censored(c[i])` needs a family with Stan CDFs and a data indicator; truncation
`T[L, U]` needs one too, with bounds that are numbers in order or data columns per row
(`T[L[i], U[i]]`, whose order the binder checks row by row); Categorical's argument is a simplex of
numbers or `softmax(s1, ..., sK)`. Every misuse is a located error (E209 censoring, E210
truncation, E204/E320 Categorical).
"""

from __future__ import annotations

from mlmdsl.compiler import ast
from mlmdsl.compiler.passes.symbols import Context, Stmt

# Families where a censored or truncated outcome has no meaning (one or two outcome values, or
# categories without order), as opposed to families Stan has no CDF for.
_NO_SENSE = {"Bernoulli", "Categorical", "OrderedLogistic", "Binomial", "ZIBinomial", "BetaBinomial"}
_SIMPLEX_TOLERANCE = 1e-6


def run(ctx: Context) -> None:
    for st in ctx.stmts:
        node = st.node
        if st.family is None:
            continue  # an unknown distribution or a bad call: reported by roles
        if isinstance(node, ast.Sample) and (node.censoring is not None or node.truncation is not None):
            if st.kind != "likelihood":
                span = (node.censoring or node.truncation).span  # type: ignore[union-attr]
                code = "E209" if node.censoring is not None else "E210"
                what = "censoring" if node.censoring is not None else "truncation"
                ctx.err(code, f"{what} applies to an observed outcome `y[i] ~ ...`, not to a prior", span)
                continue
            if node.censoring is not None:
                censoring(ctx, st, node.censoring)
            if node.truncation is not None:
                truncation(ctx, st, node, node.truncation)
        if st.kind == "likelihood" and st.family is not None and st.family.name == "Categorical":
            categorical(ctx, st)
        if st.family.name == "Dirichlet" and st.kind != "likelihood":  # an outcome: constraints says so
            dirichlet(ctx, st)


def _cdf_problem(st: Stmt, what: str) -> str | None:
    fam = st.family
    if fam is None or fam.cdf:
        return None
    if fam.name in _NO_SENSE:
        return f"a {what} {fam.name} outcome makes no sense: {fam.name} has no values beyond a bound"
    return f"{fam.name} has no CDF in Stan, so it cannot be {what}"


def censoring(ctx: Context, st: Stmt, c: ast.Censoring) -> None:
    if c.word != "censored":
        ctx.err("E209", f"unknown `| {c.word}(...)` after a distribution", c.word_span, "write `| censored(c[i])`")
        return
    if len(c.args) != 1:
        ctx.err(
            "E209",
            f"censored takes one argument (the censoring column), got {len(c.args)}",
            c.span,
            "write `| censored(c[i])` with c = -1 (left), 0 (observed), 1 (right-censored)",
        )
        return
    problem = _cdf_problem(st, "censored")
    if problem is not None:
        ctx.err("E209", problem, c.span, "censoring needs a family with a CDF, e.g. Exponential, Weibull, Poisson")
        return
    arg = c.args[0]
    if not ctx.is_data_expr(arg):
        ctx.err(
            "E209",
            f"the censoring indicator `{ast.to_text(arg)}` must be data, not computed from parameters",
            arg.span,
        )
        return
    if not any(isinstance(n, ast.Index) for n in ast.walk(arg)):
        ctx.err(
            "E209",
            f"the censoring indicator `{ast.to_text(arg)}` must be a column, one value per row",
            arg.span,
            f"write e.g. `| censored(c[{ctx.row_letter}])`",
        )


def truncation(ctx: Context, st: Stmt, node: ast.Sample, t: ast.Truncation) -> None:
    if node.censoring is not None:
        ctx.err("E210", "an outcome can be censored or truncated, not both (yet)", t.span)
        return
    problem = _cdf_problem(st, "truncated")
    if problem is not None:
        ctx.err("E210", problem, t.span, "truncation needs a family with a CDF, e.g. Normal, LogNormal, Poisson")
        return
    if t.lower is None and t.upper is None:
        ctx.err("E210", "`T[, ]` gives no bound", t.span, "write `T[L, ]`, `T[, U]` or `T[L, U]`")
        return
    fam = st.family
    assert fam is not None
    values: list[float | None] = []
    for bound in (t.lower, t.upper):
        if bound is None:
            values.append(None)
            continue
        if isinstance(bound, ast.Num):
            if fam.discrete and not bound.is_int:
                what = f"{fam.name} counts are whole numbers, so its bound must be one, got {bound.text}"
                ctx.err("E210", what, bound.span)
                return
            values.append(bound.value)
            continue
        if not bound_column(ctx, st, bound):
            return
        values.append(None)  # a bound per row: its order is checked on the data (E410)
    lower, upper = values
    if lower is not None and upper is not None and lower >= upper:
        ctx.err(
            "E210",
            f"the truncation bounds are reversed or equal: T[{t.lower.text}, {t.upper.text}]",  # type: ignore[union-attr]
            t.span,
            "write the lower bound first: T[L, U] with L < U",
        )


def bound_column(ctx: Context, st: Stmt, bound: ast.Expr) -> bool:
    """A bound per row is a data column indexed by the row letter: `T[L[i], U[i]]`, `T[0, cap[i]]`."""
    i = ctx.row_letter
    hint = f"write a number or a data column per row, e.g. `T[0, cap[{i}]]` or `T[L[{i}], U[{i}]]`"
    is_column = (
        isinstance(bound, ast.Index)
        and isinstance(bound.base, ast.Name)
        and len(bound.indices) == 1
        and isinstance(bound.indices[0], ast.Name)
        and bound.indices[0].id == st.letter
    )
    if isinstance(bound, ast.Name) and (sym := ctx.syms.get(bound.id)) is not None and sym.role == "param":
        ctx.err(
            "E210",
            f"the truncation bound `{bound.id}` is a parameter; the bounds of a truncated outcome are known",
            bound.span,
            hint,
        )
        return False
    if not is_column:
        ctx.err(
            "E210",
            f"a truncation bound must be a number or a data column per row, found `{ast.to_text(bound)}`",
            bound.span,
            hint,
        )
        return False
    name = bound.base.id  # type: ignore[union-attr]
    sym = ctx.syms.get(name)
    if sym is not None and sym.role != "data":
        what = {"param": "a parameter", "derived": "a derived quantity", "outcome": "an outcome"}.get(
            sym.role, "not data"
        )
        ctx.err(
            "E210",
            f"the truncation bound `{ast.to_text(bound)}` must be data, but `{name}` is {what}",
            bound.span,
            "the bounds of a truncated outcome are known: numbers or columns of the data",
        )
        return False
    return True


def categorical(ctx: Context, st: Stmt) -> None:
    """`Categorical(p)`: p a simplex of numbers ([0.2, 0.3, 0.5]), or `softmax(s1, ..., sK)`."""
    arg = st.args[0]
    if isinstance(arg, ast.Call) and arg.func == "softmax":
        if len(arg.args) < 2:
            ctx.err(
                "E204",
                f"softmax needs one score per category (two or more), got {len(arg.args)}",
                arg.span,
                "the first is usually 0, the reference category: `softmax(0, s2[i], s3[i])`",
            )
        return
    if isinstance(arg, ast.Name):
        simplex_parameter(ctx, st, arg)
        return
    if isinstance(arg, ast.Index) and isinstance(arg.base, ast.Name) and arg.base.id in ctx.defined:
        prior = ctx.defined[arg.base.id]
        if prior.kind == "group_prior" and prior.family is not None and prior.family.name == "Dirichlet":
            ctx.err(
                "E320",
                f"one simplex per group (`{ast.to_text(arg)}`) is not supported: LANGUAGE.md's "
                "Categorical(p) has one simplex for all rows",
                arg.span,
                "write `p ~ Dirichlet(2)` and `Categorical(p)`, or scores per group through softmax",
            )
            return
    if isinstance(arg, ast.VectorLit):
        nums = [a for a in arg.items if isinstance(a, ast.Num)]
        if len(nums) != len(arg.items):
            ctx.err(
                "E320",
                "the p of Categorical lists numbers; scores from parameters go through softmax",
                arg.span,
                "write `Categorical(softmax(0, s2, s3))`",
            )
            return
        total = sum(n.value for n in nums)
        if len(nums) < 2 or any(n.value < 0 for n in nums) or abs(total - 1) > _SIMPLEX_TOLERANCE:
            ctx.err(
                "E204",
                f"the p of Categorical must be a simplex (two or more probabilities >= 0 that sum to 1); "
                f"these sum to {total:g}",
                arg.span,
            )
        return
    ctx.err(
        "E320",
        f"the p of Categorical must be a simplex such as `[0.2, 0.3, 0.5]`, a parameter `p` with "
        f"`p ~ Dirichlet(2)`, or "
        f"`softmax(0, s2[{ctx.row_letter}], s3[{ctx.row_letter}])`, found `{ast.to_text(arg)}`",
        arg.span,
    )


def simplex_parameter(ctx: Context, st: Stmt, arg: ast.Name) -> None:
    """`Categorical(p)` with p estimated: a parameter with a Dirichlet prior, one per outcome
    (its size K is that outcome's number of categories, from the data)."""
    sym = ctx.syms.get(arg.id)
    prior = ctx.defined.get(arg.id)
    if sym is None or prior is None or sym.role != "param":
        if sym is not None and sym.role == "data":
            return  # reported as a parameter without a prior (E300), with the Dirichlet to add
        return  # a derived quantity or an outcome: their own errors
    if prior.family is None:
        return  # its prior's own error
    if prior.kind != "prior":
        what = "one per group" if prior.kind == "group_prior" else "a row quantity"
        ctx.err(
            "E320",
            f"`{arg.id}` holds the probabilities of `{st.targets[0]}`: one simplex for all rows, not {what}",
            prior.node.lhs.span,
            f"write `{arg.id} ~ Dirichlet(2)`",
        )
        return
    if prior.family.name != "Dirichlet":
        ctx.err(
            "E204",
            f"`{arg.id}` holds the probabilities of `{st.targets[0]}` (a simplex), so its prior must be "
            f"Dirichlet, not {prior.family.name} (line {prior.node.span.line})",
            prior.node.rhs.span,
            f"write `{arg.id} ~ Dirichlet(2)` (or one concentration per category, `Dirichlet([2, 2, 2])`)",
        )
        return
    uses = [u for u in sym.uses if u.slot == "simplex"]
    if len(uses) > 1 and uses[0].stmt is not st:
        ctx.err(
            "E204",
            f"`{arg.id}` already holds the probabilities of `{uses[0].stmt.targets[0]}` (line "
            f"{uses[0].stmt.node.span.line}); each categorical outcome needs its own simplex",
            arg.span,
        )


def dirichlet(ctx: Context, st: Stmt) -> None:
    """`p ~ Dirichlet(alpha)`: alpha lists positive numbers (`[2, 2, 2]`, one per category) or is
    one positive number for every category (`Dirichlet(2)`, as many as the data has); p is the
    simplex of one Categorical outcome."""
    alpha = st.args[0]
    if isinstance(alpha, ast.Num):
        if alpha.value <= 0:
            ctx.err("E204", f"the concentration of Dirichlet must be positive, got {alpha.text}", alpha.span)
    elif isinstance(alpha, ast.VectorLit) and all(isinstance(a, ast.Num) for a in alpha.items):
        bad = [a for a in alpha.items if a.value <= 0]  # type: ignore[attr-defined]
        if bad:
            ctx.err("E204", f"the concentrations of Dirichlet must be positive, got {bad[0].text}", bad[0].span)  # type: ignore[attr-defined]
        elif len(alpha.items) < 2:
            ctx.err("E204", "Dirichlet needs two or more concentrations, one per category", alpha.span)
    else:
        ctx.err(
            "E320",
            f"the concentrations of Dirichlet are numbers, found `{ast.to_text(alpha)}`",
            alpha.span,
            "write one per category, `Dirichlet([2, 2, 2])`, or one for all, `Dirichlet(2)`",
        )
    if st.kind == "group_prior":
        ctx.err(
            "E320",
            "one simplex per group is not supported: LANGUAGE.md's Categorical(p) has one simplex for all rows",
            st.node.lhs.span,
            "write `p ~ Dirichlet(2)` and `y[i] ~ Categorical(p)`",
        )
        return
    if st.kind != "prior":
        return
    name = st.targets[0]
    uses = ctx.syms[name].uses
    if any(u.slot == "simplex" or (u.stmt.family is None and u.stmt.kind != "derived") for u in uses):
        return  # the simplex of a Categorical (checked there), or a statement in error
    other = next(iter(uses), None)
    why = (
        f"it is used as a single value at line {other.stmt.node.span.line}"
        if other is not None
        else "no Categorical outcome uses it"
    )
    ctx.err(
        "E204",
        f"Dirichlet is the prior of a Categorical outcome's probabilities, but `{name}` is not one: {why}",
        st.node.rhs.span,
        f"use it as `y[i] ~ Categorical({name})`, or give `{name}` another prior",
    )
