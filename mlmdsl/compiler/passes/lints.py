"""Pass 8, lints: warnings about a model that checks but is likely not what was meant.

Unused parameters and quantities (W500, W501) and intercept means that are not identified
because they enter a linear predictor only as a sum (W502). Run after `build`, on a model
without errors.
"""

from __future__ import annotations

from mlmdsl.compiler import ast
from mlmdsl.compiler.passes.symbols import Context


def run(ctx: Context) -> None:
    lint(ctx)


def lint(ctx: Context) -> None:
    for name, sym in ctx.syms.items():
        st = ctx.defined.get(name)
        if st is None:
            continue
        others = [u for u in sym.uses if u.stmt is not st]
        if sym.role == "param" and not others and st.kind != "joint_prior":
            ctx.warn("W500", f"parameter `{name}` has a prior but is not used anywhere", st.target_spans[0])
        if sym.role == "derived" and not others:
            ctx.warn("W501", f"`{name}` is defined but not used anywhere", st.target_spans[0])
    identification(ctx)


def identification(ctx: Context) -> None:
    """Two intercept means that enter one linear predictor only as a sum are not identified.

    The linear predictor in any form: a row-level quantity `mu[i] = ...` (with or without a
    link), or a likelihood's mean argument written inline, each read through the row-level
    sums it names (`eta[i] = a[p[i]]` in `Normal(eta[i] + g[q[i]], s)`). One warning per set of
    intercepts, at the first statement that shows it.
    """
    means: dict[str, str] = {}  # group-level param -> its free mean parameter
    for st in ctx.stmts:
        if st.kind == "group_prior" and st.family and st.family.location_scale:
            loc = st.args[[k for _, k in st.family.args].index("loc")]
            if isinstance(loc, ast.Name) and ctx.role(loc.id) == "param":
                means[st.targets[0]] = loc.id
    sums = {
        st.targets[0]: st.rhs
        for st in ctx.stmts
        if st.kind == "derived" and st.letter == ctx.row_letter and st.link == "identity"
    }
    reported: set[frozenset[str]] = set()

    def intercepts_of(expr: ast.Expr, seen: frozenset[str]) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for term in ast.summands(expr):
            if isinstance(term, ast.Name) and ctx.role(term.id) == "param":
                found.append((term.id, f"`{term.id}`"))
            elif isinstance(term, ast.Index) and isinstance(term.base, ast.Name):
                name = term.base.id
                if name in means:
                    found.append((means[name], f"`{means[name]}` (the mean of `{name}`)"))
                elif name in sums and name not in seen and isinstance(term.indices[0], ast.Name):
                    found += intercepts_of(sums[name], seen | {name})  # type: ignore[arg-type]
        return found

    def lint(expr: ast.Expr, what: str, span: ast.Span) -> None:
        intercepts = intercepts_of(expr, frozenset())
        key = frozenset(k for k, _ in intercepts)
        if len(intercepts) < 2 or key in reported:
            return
        reported.add(key)
        listed = " and ".join(d for _, d in intercepts)
        ctx.warn(
            "W502",
            f"{listed} enter {what} only as a sum, so they are not identified separately",
            span,
            "keep one intercept mean and give the other group effects mean 0, e.g. "
            "`g[j] ~ Normal(0, sigma_g)`, or make them sum to zero: "
            "`g[j] ~ Normal(0, sigma_g) @sum_to_zero`",
        )

    for st in ctx.stmts:
        if st.kind == "derived" and st.letter == ctx.row_letter:
            lint(st.rhs, f"`{st.targets[0]}`", st.node.span)  # type: ignore[arg-type]
    for st in ctx.stmts:
        if st.kind == "likelihood" and st.family is not None and st.args:
            lint(st.args[st.family.mean_arg], f"the mean of `{st.targets[0]}`", st.node.span)
