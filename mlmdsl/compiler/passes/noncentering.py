"""Pass 6, non-centring: the parameterization of each group-level statement, and why.

The line's `@centered`/`@noncentered` wins, then the file's directive, then a choice made from
the data (`check(centered=...)`), then the default. A statement whose prior uses a derived
quantity, or whose parameter is constrained by its use, stays centred (W504). Each choice is
explained in an N600 note. Called by `build` for each group-level parameter and block.
"""

from __future__ import annotations

from mlmdsl.compiler import ast
from mlmdsl.compiler.ir import Correlated
from mlmdsl.compiler.passes.symbols import Context, Stmt, Sym


def choose(ctx: Context, sym: Sym, st: Stmt, lower: str | None, upper: str | None
) -> tuple[ast.Expr, ast.Expr] | None:
    fam = st.family
    assert fam is not None
    if not fam.location_scale:
        return None
    loc_i = next(k for k, (_, kind) in enumerate(fam.args) if kind == "loc")
    scale_i = next(k for k, (_, kind) in enumerate(fam.args) if kind == "scale")
    loc, scale = st.args[loc_i], st.args[scale_i]
    if not any(ctx.syms.get(n, Sym("", "")).role == "param" for n in ast.names_in(scale)):
        return None  # a fixed scale makes no funnel
    centered, why = centered_choice(ctx, st)
    span = st.node.span
    if centered:
        ctx.note("N600", f"`{sym.name}` is sampled centred{why}", span)
        return None
    blockers = [
        n for n in ast.names_in(loc) | ast.names_in(scale) if ctx.syms.get(n, Sym("", "")).role == "derived"
    ]
    if lower is not None or upper is not None or blockers:
        why = (
            f"its prior uses the derived quantity `{blockers[0]}`"
            if blockers
            else "it is also constrained by its use"
        )
        ctx.warn("W504", f"`{sym.name}` is sampled centred because {why}", span)
        return None
    text = (
        f"`{sym.name}` is sampled non-centred ({sym.name} = {ast.to_text(loc)} + "
        f"{ast.to_text(scale)} * z_{sym.name})"
    )
    text += why or "; add `@centered` to the line to change it"
    ctx.note("N600", text, span)
    return loc, scale


def centered_choice(ctx: Context, st: Stmt) -> tuple[bool, str]:
    """Centred or not, and why when it was not the default: the line's annotation, then the
    file's directive, then a choice made from the data (overrides), then the default."""
    if st.centered is not None:
        return st.centered, ", as asked on its line"
    if ctx.directive_given:
        return ctx.default_centered, ", as the model's directive asks" if ctx.default_centered else ""
    chosen = [ctx.overrides[t] for t in st.targets if t in ctx.overrides]
    if chosen:
        why = next((ctx.reasons[t] for t in st.targets if t in ctx.reasons), "")
        return chosen[0], f" — {why}" if why else ", as asked"
    return ctx.default_centered, ", as asked" if ctx.default_centered else ""


def block_note(ctx: Context, block: Correlated, why: str) -> None:
    effects = ", ".join(f"`{e}`" for e in block.effects)
    if block.centered:
        text = f"{effects} are sampled centred (multi_normal_cholesky){why or ', as asked'}"
    elif why:
        text = f"{effects} are sampled non-centred (Cholesky factor of `{block.corr}`){why}"
    else:
        text = (
            f"{effects} are sampled non-centred (Cholesky factor of `{block.corr}` and "
            f"`{block.scales}` times standard normals); add `@centered` to the line to change it"
        )
    ctx.note("N600", text, block.stmt.span)


