"""Modelled columns (read by `build`): columns with their own `~` line (imputation, measurement error).

Row level: `B[i] ~ Normal(nu, sigma_B)` with `B[i]` also used in `mu[i] = a + bB * B[i]` makes `B`
a modelled column: observed where the data has a value, a parameter where it is missing, all
parameters when the column is absent (`D_true[i]` in m15.1). Whether cells are missing is a
question for the data; the text decides only which columns are modelled, so the Stan program is
the same for any data.

Group level: `x[j] ~ Normal(nu, tau)` with `x` used as `x[id[i]]` reads, from the text alone, as a
group effect (one parameter per level of `id`). Only the data can tell it is a column: when the
model is compiled against a table (`check(columns=...)`: Model.fit, `mlm check --data`, the
editor's `# data:`), a group-level line on a column's name models that column instead, one value
per level, imputed where a level has no value. The program still depends only on the text and the
column names, not on which levels are missing.

The other passes already hold a row-level modelled column to its uses as an outcome: per row
(E312, E314), never as an index (E315); a group-level one is held to its uses as a group effect
(one grouping, E313), and `run` rejects its use per row. Discrete modelled columns are read as
data: the binder reports missing values in them, as imputing them would need marginalisation.
"""

from __future__ import annotations

from mlmdsl.compiler import ast, gp
from mlmdsl.compiler.ir import ROWS
from mlmdsl.compiler.passes.symbols import Context, Stmt


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


def is_group_modelled(ctx: Context, st: Stmt) -> bool:
    """A one-effect group-level line on the name of a column of the data the model is compiled
    against. Correlated, Gaussian-process and sum-to-zero effects stay effects (binding warns,
    W520, that the column of their name is not read)."""
    return (
        st.kind == "group_prior"
        and st.targets[0] in ctx.columns
        and st.family is not None
        and st.family is not gp.GP_FAMILY
        and not st.sum_to_zero
    )


def group_modelled_names(ctx: Context) -> list[str]:
    """The group-level modelled columns, in the order written."""
    return [st.targets[0] for st in ctx.stmts if is_group_modelled(ctx, st) and ctx.defined.get(st.targets[0]) is st]


def group_line_names(program: ast.Program) -> frozenset[str]:
    """Names on the left of a line indexed by a letter other than the row letter (`x[j] ~ ...`):
    the ones a table's columns may turn into modelled columns (data/modelled.for_columns)."""
    rows = next(
        (d.arg for d in program.statements if isinstance(d, ast.Directive) and d.name == "rows" and d.arg), "i"
    )
    out = set()
    for s in program.statements:
        if not isinstance(s, ast.Sample) or not isinstance(s.lhs, ast.Index):
            continue
        lhs = s.lhs
        if isinstance(lhs.base, ast.Name) and len(lhs.indices) == 1:
            ix = lhs.indices[0]
            if isinstance(ix, ast.Name) and ix.id != rows:
                out.add(lhs.base.id)
    return frozenset(out)


def run(ctx: Context) -> None:
    """E316: a column modelled per level (`x[j] ~`) but used per row (`x[i]`): the letter of its
    line is then not a grouping, and which level a row's value belongs to is unknown."""
    for name in group_modelled_names(ctx):
        sym = ctx.syms[name]
        st = ctx.defined[name]
        if sym.domain != ROWS:
            continue
        use = next((u for u in sym.uses if u.stmt is not st), None)
        span = use.span if use is not None else st.target_spans[0]
        i = ctx.row_letter
        ctx.err(
            "E316",
            f"`{name}` is a column of the data modelled per level (`{name}[{st.letter}] ~ ...`, line "
            f"{st.node.span.line}), but it is used per row here, so `{st.letter}` is not a grouping",
            span,
            f"a column modelled per row is written `{name}[{i}] ~ ...`; one modelled per level of a "
            f"grouping `g` is used as `{name}[g[{i}]]`",
        )
