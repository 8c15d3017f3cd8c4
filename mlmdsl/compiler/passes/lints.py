"""Pass 8, lints: warnings about a model that checks but is likely not what was meant.

Unused parameters and quantities (W500, W501) and intercept means that are not identified
because they enter a linear predictor only as a sum (W502). Run after `build`, on a model
without errors.
"""

from __future__ import annotations

from mlmdsl.compiler import ast
from mlmdsl.compiler.passes.symbols import Context, Sym


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
    """Two intercept means that enter one linear predictor only as a sum are not identified."""
    means: dict[str, str] = {}  # group-level param -> its free mean parameter
    for st in ctx.stmts:
        if st.kind == "group_prior" and st.family and st.family.location_scale:
            loc = st.args[[k for _, k in st.family.args].index("loc")]
            if isinstance(loc, ast.Name) and ctx.syms.get(loc.id, Sym("", "")).role == "param":
                means[st.targets[0]] = loc.id
    for st in ctx.stmts:
        if st.kind != "derived" or st.letter != ctx.row_letter:
            continue
        intercepts: list[tuple[str, str]] = []
        for term in ast.summands(st.rhs):  # type: ignore[arg-type]
            if isinstance(term, ast.Name) and ctx.syms.get(term.id, Sym("", "")).role == "param":
                intercepts.append((term.id, f"`{term.id}`"))
            elif isinstance(term, ast.Index) and isinstance(term.base, ast.Name) and term.base.id in means:
                intercepts.append((means[term.base.id], f"`{means[term.base.id]}` (the mean of `{term.base.id}`)"))
        if len(intercepts) >= 2:
            listed = " and ".join(d for _, d in intercepts)
            ctx.warn(
                "W502",
                f"{listed} enter `{st.targets[0]}` only as a sum, so they are not identified separately",
                st.node.span,
                "keep one intercept mean and give the other group effects mean 0, e.g. "
                "`g[j] ~ Normal(0, sigma_g)`",
            )


