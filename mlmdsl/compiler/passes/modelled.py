"""Modelled columns (read by `build`): outcomes that another statement uses (imputation, measurement error).

`B[i] ~ Normal(nu, sigma_B)` with `B[i]` also used in `mu[i] = a + bB * B[i]` makes `B` a modelled
column: observed where the data has a value, a parameter where it is missing, all parameters when
the column is absent (`D_true[i]` in m15.1). Whether cells are missing is a question for the data;
the text decides only which columns are modelled, so the Stan program is the same for any data.

The other passes already hold a modelled column to its uses as an outcome: per row (E312, E314),
never as an index (E315). Discrete modelled columns are read as data: the binder reports missing
values in them, as imputing them would need marginalisation. This pass only names the columns.
"""

from __future__ import annotations

from mlmdsl.compiler.passes.symbols import Context


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
