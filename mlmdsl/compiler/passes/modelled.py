"""Pass 4c, modelled columns: outcomes that another statement uses (imputation, measurement error).

`B[i] ~ Normal(nu, sigma_B)` with `B[i]` also used in `mu[i] = a + bB * B[i]` makes `B` a modelled
column: observed where the data has a value, a parameter where it is missing, all parameters when
the column is absent (`D_true[i]` in m15.1). Whether cells are missing is a question for the data;
the text decides only which columns are modelled, so the Stan program is the same for any data.

Uses of a modelled column must be as a row-level value (`B[i]` in a row statement); a column
used as an index cannot be imputed (E332). Discrete modelled columns are read as data: the binder
reports missing values in them, as imputing them would need marginalisation.
"""

from __future__ import annotations

from mlmdsl.compiler import ast
from mlmdsl.compiler.passes.symbols import Context

# A modelled column used where it cannot be (as an index, at group level).
E_MODELLED = "E332"


def modelled_names(ctx: Context) -> list[str]:
    """Outcomes used (as values) in a statement other than their own, in the order written."""
    out = []
    for st in ctx.stmts:
        if st.kind != "likelihood":
            continue
        name = st.targets[0]
        sym = ctx.syms.get(name)
        if sym is None or sym.role != "outcome":
            continue
        if any(u.stmt is not st for u in sym.uses):
            out.append(name)
    return out


def run(ctx: Context) -> None:
    for name in modelled_names(ctx):
        sym = ctx.syms[name]
        own = ctx.defined[name]
        for u in sym.uses:
            if u.stmt is own:
                continue
            if u.slot == "index":
                ctx.err(
                    E_MODELLED,
                    f"`{name}` is a modelled column (line {own.node.span.line}) and cannot be used as "
                    "an index: its missing cells would be parameters, not level codes",
                    u.span,
                    f"remove the `~` line of `{name}` if it is a grouping column",
                )
            elif u.index is None or not (
                isinstance(u.index, ast.Name) and u.index.id == ctx.row_letter and u.stmt.letter == ctx.row_letter
            ):
                ctx.err(
                    E_MODELLED,
                    f"`{name}` is a modelled column (line {own.node.span.line}): use it per row as "
                    f"`{name}[{ctx.row_letter}]` in a row-level statement",
                    u.span,
                    f"write `{name}[{ctx.row_letter}]`",
                )
