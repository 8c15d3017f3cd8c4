"""Pass 1, roles: what each name is, read from the text alone (LANGUAGE.md, "What a name is").

A name on the left of `=` is derived, a name with a prior is a parameter, the left side of a
row-indexed `~` is an observed column, and any other name is data. This pass reads the
directives and statements into `Stmt`s, gives every name a `Sym` with its uses, records which
distribution slot each direct argument fills, and reports names that need a prior.
"""

from __future__ import annotations

from mlmdsl.compiler import ast, gp
from mlmdsl.compiler.diagnostics import suggest
from mlmdsl.compiler.families import FUNCTIONS, LINKS, Family, family_names, lookup_family
from mlmdsl.compiler.ir import ROWS
from mlmdsl.compiler.passes.symbols import Context, Stmt, Sym, Use, index_column

SUM_TO_ZERO = "sum_to_zero"

# A prior to suggest for a parameter that has none, by the distribution slot it fills.
_EXAMPLE_PRIOR = {
    "scale": "Exponential(1)",
    "positive": "Exponential(1)",
    "scales": "Exponential(1)",
    "corr": "LKJcorr(2)",
    "ordered": "Normal(0, 1.5)",
    "simplex": "Dirichlet(2)",
}


def run(ctx: Context) -> None:
    """Statements and roles; then which slot each argument fills; then the missing priors."""
    read_statements(ctx)
    assign_roles(ctx)
    args_with_slots(ctx)
    missing_priors(ctx)


def read_statements(ctx: Context) -> None:
    for node in ctx.program.statements:
        if isinstance(node, ast.Directive):
            directive(ctx, node)
    for node in ctx.program.statements:
        if isinstance(node, ast.Sample):
            stmt = sample(ctx, node)
        elif isinstance(node, ast.Assign):
            stmt = assign(ctx, node)
        else:
            continue
        if stmt is not None:
            stmt.centered = annotations(ctx, node)
            stmt.sum_to_zero = any(a.name == SUM_TO_ZERO for a in node.annotations)
            ctx.stmts.append(stmt)


def directive(ctx: Context, d: ast.Directive) -> None:
    if d.name in ("centered", "centred"):
        ctx.default_centered, ctx.directive_given = True, True
    elif d.name in ("noncentered", "noncentred", "non_centered"):
        ctx.default_centered, ctx.directive_given = False, True
    elif d.name == "rows":
        if d.arg is None:
            ctx.err("E207", "`@rows` needs the row index letter, e.g. `@rows n`", d.span)
        else:
            ctx.row_letter = d.arg
    else:
        near = suggest(d.name, ["centered", "noncentered", "rows"])
        ctx.err(
            "E207",
            f"unknown directive `@{d.name}`",
            d.span,
            f"did you mean `@{near}`?" if near else "known: @centered, @noncentered, @rows LETTER",
        )


def annotations(ctx: Context, node: ast.Sample | ast.Assign) -> bool | None:
    centered = None
    for a in node.annotations:
        if a.name in ("centered", "centred"):
            centered = True
        elif a.name in ("noncentered", "noncentred", "non_centered"):
            centered = False
        elif a.name != SUM_TO_ZERO:  # checked with the effect it constrains (passes/effects.py)
            ctx.err(
                "E207", f"unknown annotation `@{a.name}`", a.span, "known: @centered, @noncentered, @sum_to_zero"
            )
    return centered


def family_of(ctx: Context, call: ast.Expr) -> tuple[Family, tuple[ast.Expr, ...]] | None:
    if not isinstance(call, ast.Call):
        ctx.err(
            "E205",
            f"expected a distribution after `~`, found `{ast.to_text(call)}`",
            call.span,
            "write a distribution such as `Normal(mu[i], sigma)`",
        )
        return None
    fam = lookup_family(call.func)
    if fam is None:
        near = suggest(call.func, family_names())
        ctx.err(
            "E200",
            f"unknown distribution `{call.func}`",
            call.func_span,
            f"did you mean `{near}`?" if near else None,
        )
        return None
    if len(call.args) != fam.arity:
        names = ", ".join(n for n, _ in fam.args)
        ctx.err(
            "E203",
            f"{fam.name} takes {fam.arity} argument{'s' * (fam.arity != 1)} ({names}), "
            f"got {len(call.args)}",
            call.span,
        )
        return None
    return fam, call.args


def sample(ctx: Context, node: ast.Sample) -> Stmt | None:
    lhs = node.lhs
    if (
        isinstance(node.rhs, ast.Call)
        and gp.is_gp_call(node.rhs.func, len(node.rhs.args))
        and isinstance(lhs, ast.Index)
        and isinstance(lhs.base, ast.Name)
        and len(lhs.indices) == 1
        and isinstance(lhs.indices[0], ast.Name)
    ):
        # A Gaussian process: one effect per level, covariance from a kernel (passes/gp.py).
        letter = lhs.indices[0].id
        return Stmt(node, "group_prior", (lhs.base.id,), (lhs.base.span,), letter, gp.GP_FAMILY, node.rhs.args)
    got = family_of(ctx, node.rhs)
    shape_hint = "the left of `~` is an outcome `y[i]`, a parameter `b`, `alpha[j]`, or `[a, b][j]`"
    # A bad distribution is reported once; the statement still declares its left side, so
    # the rest of the model is checked without "no prior" errors in its wake.
    if got is not None:
        fam, args = got
    else:
        fam, args = None, node.rhs.args if isinstance(node.rhs, ast.Call) else ()
    if isinstance(lhs, ast.Name):
        return Stmt(node, "prior", (lhs.id,), (lhs.span,), None, fam, args)
    if isinstance(lhs, ast.Index) and len(lhs.indices) == 1 and isinstance(lhs.indices[0], ast.Name):
        letter = lhs.indices[0].id
        base = lhs.base
        if isinstance(base, ast.Name):
            kind = "likelihood" if letter == ctx.row_letter else "group_prior"
            return Stmt(node, kind, (base.id,), (base.span,), letter, fam, args)
        items = _joint_items(base)
        if items is not None:
            if fam is not None and fam.name != "MVNormal":
                ctx.err("E205", f"several effects on the left of `~` need MVNormal, not {fam.name}", lhs.span)
                return None
            if letter == ctx.row_letter:
                ctx.err(
                    "E314",
                    f"correlated effects are per group, but `{letter}` is the row index",
                    lhs.indices[0].span,
                    "use a group letter such as `j`",
                )
                fam = None  # still declares its effects, so their uses are not misread
            elif len(items) < 2:
                ctx.err(
                    "E205",
                    "MVNormal correlates two or more effects; one effect is `a[j] ~ Normal(abar, sigma_a)`",
                    lhs.span,
                )
                fam = None
            return Stmt(
                node, "joint_prior", tuple(n.id for n in items), tuple(n.span for n in items), letter, fam, args
            )
    if isinstance(lhs, ast.Index) and len(lhs.indices) == 1:
        ctx.err(
            "E205",
            f"the index on the left of `~` must be a letter, found `{ast.to_text(lhs.indices[0])}`",
            lhs.indices[0].span,
            shape_hint,
        )
        return None
    ctx.err("E205", f"cannot sample `{ast.to_text(lhs)}`", lhs.span, shape_hint)
    return None


def assign(ctx: Context, node: ast.Assign) -> Stmt | None:
    lhs = node.lhs
    link = "identity"
    if isinstance(lhs, ast.Call) and len(lhs.args) == 1:
        if lhs.func not in LINKS:
            near = suggest(lhs.func, list(LINKS))
            ctx.err(
                "E202",
                f"unknown link `{lhs.func}` on the left of `=`",
                lhs.func_span,
                f"did you mean `{near}`?" if near else "links: " + ", ".join(LINKS),
            )
            return None
        link, lhs = lhs.func, lhs.args[0]
    if isinstance(lhs, ast.Name) and isinstance(node.rhs, ast.Call) and node.rhs.func in gp.KERNELS:
        return Stmt(node, "kernel", (lhs.id,), (lhs.span,), None, link=link, rhs=node.rhs)
    if isinstance(lhs, ast.Name):
        return Stmt(node, "derived", (lhs.id,), (lhs.span,), None, link=link, rhs=node.rhs)
    if (
        isinstance(lhs, ast.Index)
        and isinstance(lhs.base, ast.Name)
        and len(lhs.indices) == 1
        and isinstance(lhs.indices[0], ast.Name)
    ):
        return Stmt(
            node, "derived", (lhs.base.id,), (lhs.base.span,), lhs.indices[0].id, link=link, rhs=node.rhs
        )
    ctx.err(
        "E206",
        f"cannot define `{ast.to_text(node.lhs)}`",
        node.lhs.span,
        "the left of `=` is a name, `mu[i]`, `alpha[j]` or a link such as `logit(p[i])`",
    )
    return None


def assign_roles(ctx: Context) -> None:
    defined: dict[str, Stmt] = {}
    for st in ctx.stmts:
        for name, span in zip(st.targets, st.target_spans, strict=True):
            role = {"likelihood": "outcome", "derived": "derived", "kernel": "kernel"}.get(st.kind, "param")
            prev = defined.get(name)
            if prev is not None:
                duplicate(ctx, name, span, prev, st)
                continue
            defined[name] = st
            sym = ctx.syms.setdefault(name, Sym(name, role))
            sym.decl_indexed = st.letter is not None
            if role == "outcome":
                sym.domain, sym.domain_span = ROWS, span
    ctx.defined = defined
    for st in ctx.stmts:
        for expr in st.exprs:
            collect_uses(ctx, expr, st, top=True)
        if isinstance(st.node, ast.Sample) and st.kind == "likelihood":
            censor_uses(ctx, st)
    for sym in ctx.syms.values():
        if sym.role == "data" and any(u.slot == "matrix" for u in sym.uses):
            sym.role = "matrix"  # supplied beside the table (data/matrices.py)


def censor_uses(ctx: Context, st: Stmt) -> None:
    """Names in `| censored(c[i])` and `T[L, U]` are used by the likelihood; the censoring's
    columns are marked (slot "censor") because the binder computes the indicator from them."""
    node = st.node
    assert isinstance(node, ast.Sample)
    for expr in ast.sample_extras(node):
        collect_uses(ctx, expr, st)
    if node.censoring is None:
        return
    outer = node.censoring.span
    for expr in node.censoring.args:
        for name in ast.names_in(expr):
            for u in ctx.syms[name].uses if name in ctx.syms else ():
                if u.stmt is st and _within(u.span, outer):
                    u.slot = "censor"


def _within(span: ast.Span, outer: ast.Span) -> bool:
    return (span.line, span.column) >= (outer.line, outer.column) and (span.end_line, span.end_column) <= (
        outer.end_line,
        outer.end_column,
    )


def duplicate(ctx: Context, name: str, span: ast.Span, prev: Stmt, st: Stmt) -> None:
    line = prev.node.span.line
    if prev.kind == st.kind == "derived":
        ctx.err("E302", f"`{name}` is defined twice (first at line {line})", span)
    elif prev.kind == "derived" or st.kind == "derived":
        ctx.err("E303", f"`{name}` is both defined with `=` and sampled with `~` (line {line})", span)
    elif prev.kind == "likelihood" and st.kind == "likelihood":
        ctx.err("E301", f"`{name}` has two likelihood statements (first at line {line})", span)
    elif "likelihood" in (prev.kind, st.kind):
        ctx.err(
            "E303",
            f"`{name}` is observed data (line {line}) and cannot also have a prior",
            span,
        )
    else:
        ctx.err("E301", f"`{name}` has two priors (first at line {line})", span, "keep one of them")


def collect_uses(ctx: Context, expr: ast.Expr, st: Stmt, top: bool = False, slot: str | None = None) -> None:
    match expr:
        case ast.Name(id=name):
            use(ctx, name, None, expr.span, st, slot)
        case ast.Index(base=ast.Name(id=name), indices=indices):
            if len(indices) != 1:
                ctx.err("E317", f"`{name}` takes one index, got {len(indices)}", expr.span)
                return
            use(ctx, name, indices[0], expr.span, st, slot)
            collect_index(ctx, indices[0], st)
        case ast.Index():
            ctx.err("E315", f"cannot index `{ast.to_text(expr.base)}`", expr.span)
        case ast.Call(func="softmax", args=args) if top and st.family is not None and st.family.name == "Categorical":
            for a in args:  # Categorical(softmax(0, s2[i], s3[i])): one linear predictor each
                collect_uses(ctx, a, st)
        case ast.Call(func=func, args=args) if func in gp.KERNELS and top and st.kind == "kernel":
            for a, slot in zip(args, ("matrix", "positive", "positive", "positive"), strict=False):
                collect_uses(ctx, a, st, slot=slot)
        case ast.Call(func=func, args=args):
            if top and st.family is not None:
                pass  # distributions are handled below; a call here is a math function
            fn = FUNCTIONS.get(func)
            if fn is None:
                near = suggest(func, list(FUNCTIONS))
                hint = f"did you mean `{near}`?" if near else None
                if lookup_family(func) is not None:
                    hint = "a distribution goes on the right of `~`, not inside an expression"
                ctx.err("E201", f"unknown function `{func}`", expr.func_span, hint)
                return
            if len(args) != fn.arity:
                ctx.err("E203", f"`{func}` takes {fn.arity} argument(s), got {len(args)}", expr.span)
            for a in args:
                collect_uses(ctx, a, st)
        case ast.VectorLit(items=items):
            for a in items:
                collect_uses(ctx, a, st)
        case ast.BinOp(left=left, right=right):
            collect_uses(ctx, left, st)
            collect_uses(ctx, right, st)
        case ast.Neg(operand=operand):
            collect_uses(ctx, operand, st)
        case ast.Num():
            pass


def collect_index(ctx: Context, ix: ast.Expr, st: Stmt) -> None:
    """Uses inside an index: `id` in alpha[id[i]] is data used as an index."""
    match ix:
        case ast.Name():
            return  # a letter, resolved in phase C
        case ast.Index(base=ast.Name(id=name), indices=(inner,)):
            use(ctx, name, inner, ix.span, st, slot="index")
            collect_index(ctx, inner, st)
        case _:
            pass  # rejected with a message in phase C


def use(ctx: Context, name: str, index: ast.Expr | None, span: ast.Span, st: Stmt, slot: str | None) -> None:
    if index is None and name in (ctx.row_letter, st.letter) and name not in ctx.defined:
        ctx.err("E312", f"the index letter `{name}` is used as a value", span, f"did you mean `x[{name}]`?")
        return
    sym = ctx.syms.get(name)
    if sym is None:
        sym = ctx.syms[name] = Sym(name, "data")
    sym.uses.append(Use(name, index, span, st, slot))


def args_with_slots(ctx: Context) -> None:
    """Record which distribution slot each bare or indexed argument fills (for constraints)."""
    # Uses by (name, statement, place), built once: scanning every use of a name shared by many
    # statements (`sigma`) for each argument would be quadratic in the model's length.
    at: dict[tuple[str, int, ast.Span], list[Use]] = {}
    for sym in ctx.syms.values():
        for u in sym.uses:
            at.setdefault((sym.name, id(u.stmt), u.span), []).append(u)
    for st in ctx.stmts:
        if st.family is None:
            continue
        for (_, kind), arg in zip(st.family.args, st.args, strict=True):
            target = _direct_name(arg)
            if target is None:
                continue
            for u in at.get((target, id(st), _direct_span(arg)), ()):
                u.slot = kind


def missing_priors(ctx: Context) -> None:
    priors = ctx.unused_params()
    for sym in ctx.syms.values():
        if sym.role != "data":
            continue
        bare = [u for u in sym.uses if u.index is None]
        if not bare:
            continue
        if any(u.index is not None for u in sym.uses):
            u = bare[0]
            ctx.err(
                "E312",
                f"`{sym.name}` is a data column but is used here without an index",
                u.span,
                f"write `{sym.name}[{u.stmt.letter or ctx.row_letter}]`",
            )
            continue
        u = bare[0]
        near = suggest(sym.name, [p for p in priors if p != sym.name])
        dist = _EXAMPLE_PRIOR.get(u.slot or "", "Normal(0, 1)")
        hint = (
            f"did you mean `{near}`?"
            if near
            else f"add a prior, e.g. `{sym.name} ~ {dist}`; if `{sym.name}` is a data column, "
            f"write `{sym.name}[{u.stmt.letter or ctx.row_letter}]`"
        )
        ctx.err("E300", f"`{sym.name}` has no prior", u.span, hint)
        sym.role = "param"  # report once


def read_as_data_warnings(ctx: Context) -> None:
    priors = ctx.unused_params()
    for sym in ctx.syms.values():
        if sym.role != "data" or not sym.uses:
            continue
        if all(isinstance(u.index, ast.Index) and u.slot != "index" for u in sym.uses):
            u = sym.uses[0]
            near = suggest(sym.name, [p for p in priors if p != sym.name])
            if near:
                ctx.err(
                    "E300",
                    f"`{sym.name}` has no prior (did you mean `{near}`, line "
                    f"{ctx.defined[near].node.span.line}?)",
                    u.span,
                )
                continue
            col = index_column(u.index)
            ctx.warn(
                "W503",
                f"`{sym.name}` has no prior, so it is read as a group-level data column "
                f"(one value per level of `{col}`)",
                u.span,
                f"if it is a parameter, add `{sym.name}[j] ~ Normal(0, 1)`",
            )


def require_likelihood(ctx: Context) -> None:
    """E305: a model without an observed outcome has nothing to fit. It is about the whole file,
    so it points at the file's first line (editors need a place to show it)."""
    if not any(st.kind == "likelihood" for st in ctx.stmts) and not ctx.has_errors:
        i = ctx.row_letter
        ctx.err(
            "E305",
            "the model has no likelihood: no statement says how an observed outcome is distributed",
            ast.Span(1, 1, 1, 2),
            f"a likelihood has an outcome column indexed by the row letter `{i}` on the left of `~`, "
            f"e.g. `y[{i}] ~ Normal(mu[{i}], sigma)` or `admit[{i}] ~ Binomial(applications[{i}], p)`",
        )


def _joint_items(base: ast.Expr) -> tuple[ast.Name, ...] | None:
    items: tuple[ast.Expr, ...] | None = None
    if isinstance(base, ast.VectorLit):
        items = base.items
    elif isinstance(base, ast.Call) and base.func == "c":
        items = base.args
    if items and all(isinstance(i, ast.Name) for i in items):
        return items  # type: ignore[return-value]
    return None


def _direct_name(arg: ast.Expr) -> str | None:
    if isinstance(arg, ast.Name):
        return arg.id
    if isinstance(arg, ast.Index) and isinstance(arg.base, ast.Name):
        return arg.base.id
    return None


def _direct_span(arg: ast.Expr) -> ast.Span:
    return arg.span


