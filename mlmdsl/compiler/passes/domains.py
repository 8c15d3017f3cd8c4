"""Pass 2, domains: every index is given a domain, the rows or the levels of a grouping column.

`i` selects rows; a group statement's letter `j` takes its domain from the target's uses
elsewhere (`alpha[id[i]]` makes `j` range over the levels of `id`); `id[i]` makes `id` a
grouping. Domains are found by iterating to a fixed point, then inconsistencies are reported
once each.
"""

from __future__ import annotations

from mlmdsl.compiler import ast
from mlmdsl.compiler.ir import ROWS, Grouping
from mlmdsl.compiler.passes.symbols import Context, Stmt, Sym, Use


def run(ctx: Context) -> None:
    resolve_domains(ctx)


def resolve_domains(ctx: Context) -> None:
    # Iterate: a group statement's letter takes its domain from the target's uses elsewhere
    # (alpha[id[i]]), and then gives it to what the statement indexes with that letter.
    for _ in range(len(ctx.stmts) + 2):
        changed = False
        for sym in ctx.syms.values():
            for u in sym.uses:
                if u.index is None:
                    continue
                dom, ok = index_domain(ctx, u.index, u.stmt, report=False)
                if ok and dom is not None and set_domain(ctx, sym, dom, u, report=False):
                    changed = True
        if not changed:
            break
    # Now report, once, what could not be made consistent.
    for sym in ctx.syms.values():
        for u in sym.uses:
            if u.index is not None:
                dom, ok = index_domain(ctx, u.index, u.stmt, report=True)
                if dom is not None and ok:
                    set_domain(ctx, sym, dom, u, report=True)


def set_domain(ctx: Context, sym: Sym, dom: str, u: Use, report: bool) -> bool:
    if u.slot == "index" and sym.role == "derived":
        # A data-only derived quantity used as an index (treatment[i]): remember where.
        level = (ctx.letter_domain(u.stmt) if u.stmt.letter else None) or ROWS
        new = level not in sym.as_index
        sym.as_index.setdefault(level, u.span)
        if sym.domain is None:
            sym.domain, sym.domain_span = dom, u.span
        return new
    if sym.role == "data":
        level_dom = ctx.letter_domain(u.stmt) if u.stmt.letter else None
        level = level_dom or ROWS
        if u.slot == "index":
            new = level not in sym.as_index
            sym.as_index.setdefault(level, u.span)
            sym.data_levels.setdefault(level, u.span)
            return new
        if u.index is not None and isinstance(u.index, ast.Name):
            new = dom not in sym.data_levels
            sym.data_levels.setdefault(dom, u.span)
            return new
        # z[id[i]]: a group-level column read through a row's group
        new = dom not in sym.data_levels
        sym.data_levels.setdefault(dom, u.span)
        return new
    if sym.domain is None:
        sym.domain, sym.domain_span = dom, u.span
        return True
    if sym.domain != dom and report:
        conflict(ctx, sym, dom, u)
    return False


def conflict(ctx: Context, sym: Sym, dom: str, u: Use) -> None:
    first = sym.domain_span.line if sym.domain_span else 0
    if ROWS in (sym.domain, dom):
        what = "an outcome" if sym.role == "outcome" else "defined per row"
        ctx.err(
            "E314",
            f"`{sym.name}` is {what} (one value per observation) but is used at group level here",
            u.span,
        )
        return
    ctx.err(
        "E313",
        f"`{sym.name}` is indexed by `{dom}` here but by `{sym.domain}` at line {first}",
        u.span,
        "a parameter has one entry per level of one grouping; use two parameters for two groupings",
    )


def index_domain(ctx: Context, ix: ast.Expr, st: Stmt, report: bool) -> tuple[str | None, bool]:
    """The domain an index expression selects into, and whether it is resolved yet.

    `i` -> rows; `j` -> the statement's group; `id[i]` -> the levels of `id`.
    """
    match ix:
        case ast.Name(id=letter):
            if letter == st.letter:
                dom = ctx.letter_domain(st)
                return dom, dom is not None
            if report:
                unbound_letter(ctx, letter, ix.span, st)
            return None, True
        case ast.Index(base=ast.Name(id=col), indices=(inner,)):
            sym = ctx.syms.get(col)
            if sym is None:
                return None, True
            if sym.role in ("param", "outcome") or (sym.role == "derived" and ctx.depends_on_params(col)):
                if report:
                    what = "an observed outcome" if sym.role == "outcome" else "computed from parameters"
                    ctx.err(
                        "E315",
                        f"`{col}` is {what} and cannot be used as an index",
                        ix.span,
                        "an index is a data column (or a quantity computed from data only)",
                    )
                return None, True
            _, ok = index_domain(ctx, inner, st, report)
            add_grouping(ctx, col, ix.span)
            return col, ok
        case _:
            if report:
                ctx.err(
                    "E315",
                    f"an index must be a letter or a data column such as `id[i]`, found `{ast.to_text(ix)}`",
                    ix.span,
                )
            return None, True


def unbound_letter(ctx: Context, letter: str, span: ast.Span, st: Stmt) -> None:
    sym = ctx.syms.get(letter)
    if sym is not None and any(u.index is not None for u in sym.uses):
        ctx.err(
            "E315",
            f"`{letter}` is a data column; index with it as `{letter}[{st.letter or ctx.row_letter}]`",
            span,
        )
        return
    if letter == ctx.row_letter:
        bound = f"`{st.letter}` ranges over the groups of `{st.targets[0]}`" if st.letter else "no index is bound"
        ctx.err(
            "E314",
            f"the row index `{letter}` is used at group level: in this statement {bound}",
            span,
            "an observation-level quantity cannot enter a group-level statement",
        )
        return
    where = (
        f"only `{st.letter}` is bound in this statement" if st.letter else "this statement binds no index letter"
    )
    ctx.err("E310", f"the index `{letter}` is not bound here: {where}", span)


def add_grouping(ctx: Context, col: str, span: ast.Span) -> None:
    if col not in ctx.groupings:
        ctx.groupings[col] = Grouping(col, ctx.names.reserve(f"N_{ctx.names.user(col)}"), span)


