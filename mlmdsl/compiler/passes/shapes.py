"""Pass 3, shapes: scalars are not indexed, vectors are not used bare, every group letter has a
domain. Also marks the parameters a distribution sizes (cutpoints, scales, correlation matrices).
"""

from __future__ import annotations

from mlmdsl.compiler.ir import ROWS
from mlmdsl.compiler.passes.symbols import SIZED_WHAT, Context, Stmt, Sym


def run(ctx: Context) -> None:
    check_shapes(ctx)


def check_shapes(ctx: Context) -> None:
    for sym in ctx.syms.values():
        if sym.role == "data":
            continue
        indexed_uses = [u for u in sym.uses if u.index is not None]
        bare_uses = [u for u in sym.uses if u.index is None]
        is_vector = sym.decl_indexed or bool(indexed_uses)
        if sym.role == "param" and not sym.decl_indexed and indexed_uses:
            st = ctx.defined[sym.name]
            slot = indexed_uses[0].slot
            if slot in SIZED_WHAT:
                ctx.err(
                    "E320",
                    f"`{sym.name}` is {SIZED_WHAT[slot]}: pass the whole vector, without an index",
                    indexed_uses[0].span,
                    f"write `{sym.name}`",
                )
                continue
            ctx.err(
                "E311",
                f"`{sym.name}` is a scalar (its prior at line {st.node.span.line} has no index) "
                "but is indexed here",
                indexed_uses[0].span,
                f"give it one entry per group: `{sym.name}[j] ~ ...`",
            )
            continue
        if sym.role == "derived" and not sym.decl_indexed and indexed_uses:
            ctx.err(
                "E311",
                f"`{sym.name}` is a single value (defined without an index) but is indexed here",
                indexed_uses[0].span,
            )
            continue
        if is_vector:
            for u in bare_uses:
                if u.slot in ("ordered", "scales", "vector"):
                    continue
                ctx.err(
                    "E312",
                    f"`{sym.name}` has one value per {'row' if sym.domain == ROWS else 'group'} "
                    "but is used without an index",
                    u.span,
                    index_example(ctx, sym, u.stmt),
                )
        sized = {u.slot for u in bare_uses if u.slot in ("ordered", "scales", "vector", "corr", "simplex")}
        if sized:
            sym.sized = sized.pop()
    for st in ctx.stmts:
        if st.kind in ("group_prior", "joint_prior") or (st.kind == "derived" and st.letter):
            dom = ctx.letter_domain(st)
            if dom is None and st.letter != ctx.row_letter:
                name = st.targets[0]
                used = [u for u in ctx.syms[name].uses if u.stmt is not st]
                if any(u.slot in SIZED_WHAT for u in used):
                    continue  # a vector sized by its use, given an index: check_structures says so
                why = "is never indexed by a data column" if used else "is not used anywhere"
                ctx.err(
                    "E316",
                    f"cannot tell what `{st.letter}` ranges over: `{name}` {why}",
                    st.node.span,
                    f"use it with a grouping column, e.g. `{name}[<column>[{ctx.row_letter}]]`",
                )


def index_example(ctx: Context, sym: Sym, st: Stmt) -> str | None:
    letter = st.letter or ctx.row_letter
    if sym.domain == ROWS:
        return f"write `{sym.name}[{letter}]`"
    if sym.domain is not None and st.letter == ctx.row_letter:
        return f"write `{sym.name}[{sym.domain}[{letter}]]`"
    if sym.domain is not None and st.letter and ctx.letter_domain(st) == sym.domain:
        return f"write `{sym.name}[{letter}]`"
    return None


