"""Pass 4, structures: the statements with a fixed shape of arguments.

Correlated effects (`[a, b][j] ~ MVNormal(mean, Rho, tau)`: one grouping, one mean per effect,
Rho an LKJcorr matrix and tau a vector of scales, each belonging to one statement), ordered
outcomes (cutpoints a parameter vector of their own), LKJcorr (only the prior of such a Rho),
and the sized parameters these introduce, used nowhere else as a single value.
"""

from __future__ import annotations

from mlmdsl.compiler import ast
from mlmdsl.compiler.passes.symbols import SIZED_WHAT, Context, Stmt


def run(ctx: Context) -> None:
    check_structures(ctx)


def check_structures(ctx: Context) -> None:
    for st in ctx.stmts:
        if st.family is None:
            continue
        if st.kind == "joint_prior" and st.family.name == "MVNormal":
            check_block(ctx, st)
        elif st.kind == "likelihood" and st.family.support == "ordinal":
            check_ordinal(ctx, st)
        elif st.kind == "prior" and st.family.name == "LKJcorr":
            check_lkj(ctx, st)
    check_sized_uses(ctx)


def check_block(ctx: Context, st: Stmt) -> None:
    """`[a, b][j] ~ MVNormal(mean, Rho, tau)`: one grouping, one mean per effect, Rho an
    LKJcorr matrix and tau a vector of scales, each belonging to this statement alone."""
    mean, corr, scales = st.args
    block_domain(ctx, st)
    k = len(st.targets)
    if isinstance(mean, ast.VectorLit):
        if len(mean.items) != k:
            ctx.err(
                "E204",
                f"the mean of MVNormal lists {len(mean.items)} value(s) for {k} effects "
                f"({', '.join(st.targets)})",
                mean.span,
                f"give one mean per effect, e.g. `[{', '.join(t + 'bar' for t in st.targets)}]`",
            )
    elif not isinstance(mean, ast.Num):
        ctx.err(
            "E320",
            f"the mean of MVNormal must list one mean per effect, found `{ast.to_text(mean)}`",
            mean.span,
            f"write e.g. `[{', '.join(t + 'bar' for t in st.targets)}]`, or `0` for mean zero",
        )
    block_argument(ctx, st, corr, "corr", "Rho", "LKJcorr(2)")
    block_argument(ctx, st, scales, "scales", "tau", "Exponential(1)")


def block_domain(ctx: Context, st: Stmt) -> None:
    """E319: correlated effects must be indexed by one grouping."""
    first: tuple[str, str] | None = None
    for name, span in zip(st.targets, st.target_spans, strict=True):
        sym = ctx.syms[name]
        if sym.domain is None:
            if name != st.targets[0]:  # the first is reported with the statement (E316)
                ctx.err(
                    "E316",
                    f"`{name}` is one of the correlated effects but is never indexed by a "
                    "data column",
                    span,
                    f"use it with the grouping of the others, e.g. `{name}[<column>[{ctx.row_letter}]]`",
                )
            continue
        if first is None:
            first = (name, sym.domain)
        elif sym.domain != first[1]:
            where = sym.domain_span or span
            ctx.err(
                "E319",
                f"correlated effects need one grouping, but `{first[0]}` is indexed by "
                f"`{first[1]}` and `{name}` by `{sym.domain}`",
                where,
                "effects on different groupings are independent: give each its own "
                "Normal prior, or index them by the same column",
            )


def block_argument(ctx: Context, st: Stmt, arg: ast.Expr, slot: str, example: str, prior: str) -> None:
    """The correlation matrix (slot "corr") or the scales ("scales") of an MVNormal."""
    what = {"corr": "correlation matrix", "scales": "scales"}[slot]
    if not isinstance(arg, ast.Name):
        ctx.err(
            "E320",
            f"the {what} of MVNormal must be a parameter such as `{example}`, found "
            f"`{ast.to_text(arg)}`",
            arg.span,
            f"write `{example}` here and give it a prior, e.g. `{example} ~ {prior}`",
        )
        return
    sym = ctx.syms.get(arg.id)
    if sym is None or sym.role != "param":
        return  # data or a derived quantity: reported as a missing prior or a conflict
    prior_st = ctx.defined.get(arg.id)
    if slot == "corr" and prior_st is not None and prior_st.family is not None:
        if prior_st.family.name != "LKJcorr":
            ctx.err(
                "E204",
                f"`{arg.id}` is the correlation matrix of MVNormal, so its prior must be "
                f"LKJcorr, not {prior_st.family.name} (line {prior_st.node.span.line})",
                arg.span,
                f"write `{arg.id} ~ LKJcorr(2)`",
            )
    uses = [u for u in sym.uses if u.slot == slot]
    if len(uses) > 1 and uses[0].stmt is not st:
        ctx.err(
            "E204",
            f"`{arg.id}` is already the {what} of the effects at line "
            f"{uses[0].stmt.node.span.line}; each MVNormal needs its own",
            arg.span,
        )


def check_ordinal(ctx: Context, st: Stmt) -> None:
    """`y[i] ~ OrderedLogistic(eta, cutpoints)`: cutpoints a parameter vector of its own,
    with a prior on the real line (Stan declares it `ordered`)."""
    cut = st.args[1]
    if not isinstance(cut, ast.Name):
        ctx.err(
            "E320",
            f"the cutpoints of {st.family.name} must be a parameter vector such as "  # type: ignore[union-attr]
            f"`cutpoints`, found `{ast.to_text(cut)}`",
            cut.span,
            "write `cutpoints` and give it a prior, e.g. `cutpoints ~ Normal(0, 1.5)`; "
            "it holds one value between each two neighbouring categories",
        )
        return
    sym = ctx.syms.get(cut.id)
    prior_st = ctx.defined.get(cut.id)
    if sym is None or sym.role != "param" or prior_st is None:
        return
    fam = prior_st.family
    if prior_st.kind != "prior":
        ctx.err(
            "E320",
            f"`{cut.id}` holds the cutpoints of `{st.targets[0]}`: one vector, not one per group",
            prior_st.node.lhs.span,
            f"write `{cut.id} ~ Normal(0, 1.5)`",
        )
    elif fam is not None and (fam.support != "real" or fam.name == "Uniform"):
        ctx.err(
            "E204",
            f"`{cut.id}` holds the cutpoints of `{st.targets[0]}` (ordered real numbers), so its "
            f"prior must be a distribution on the whole real line, not {fam.name}",
            prior_st.node.rhs.span,
            f"write e.g. `{cut.id} ~ Normal(0, 1.5)`",
        )
    uses = [u for u in sym.uses if u.slot == "ordered"]
    if len(uses) > 1 and uses[0].stmt is not st:
        ctx.err(
            "E204",
            f"`{cut.id}` already holds the cutpoints of `{uses[0].stmt.targets[0]}` (line "
            f"{uses[0].stmt.node.span.line}); each ordered outcome needs its own",
            cut.span,
        )


def check_lkj(ctx: Context, st: Stmt) -> None:
    """LKJcorr is only the prior of the correlation matrix of an MVNormal."""
    name = st.targets[0]
    uses = ctx.syms[name].uses
    if any(u.slot == "corr" or u.stmt.family is None for u in uses):
        return  # other uses are reported by check_sized_uses; a statement in error, by itself
    other = next(iter(uses), None)
    why = (
        f"it is used as {_slot_words(other.slot)} at line {other.stmt.node.span.line}"
        if other is not None
        else "it is not the correlation matrix of any MVNormal"
    )
    ctx.err(
        "E204",
        f"LKJcorr is the prior of a correlation matrix, but `{name}` is not one: {why}",
        st.node.rhs.span,
        f"use it as `[a, b][j] ~ MVNormal([abar, bbar], {name}, tau)`, or give `{name}` "
        "another prior",
    )


def check_sized_uses(ctx: Context) -> None:
    """A vector or matrix sized by a distribution (cutpoints, tau, Rho) fills that one slot."""
    for sym in ctx.syms.values():
        if sym.sized is None or sym.role != "param":
            continue
        where = next(u for u in sym.uses if u.slot == sym.sized).stmt.node.span.line
        for u in sym.uses:
            if u.slot != sym.sized and u.index is None:
                ctx.err(
                    "E312",
                    f"`{sym.name}` is {SIZED_WHAT[sym.sized]} (line {where}) and cannot be "
                    "used as a single value here",
                    u.span,
                )


def _slot_words(slot: str | None) -> str:
    return {
        "scale": "a scale",
        "positive": "a positive parameter",
        "prob": "a probability",
        "loc": "a mean",
        "scales": "the scales of MVNormal",
        "ordered": "cutpoints",
    }.get(slot or "", "a value")


