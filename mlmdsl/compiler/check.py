"""Stage 2: name resolution and index-domain checking, ast.Program -> ir.CheckedModel.

Roles follow from the text alone (LANGUAGE.md, "What a name is"); every index is then given a
domain (the rows, or the levels of a grouping column) and every inconsistency becomes a
Diagnostic at the user's line. The work is done by the passes in `mlmdsl.compiler.passes`, each
over the one shared symbol table; this module runs them in order.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from mlmdsl.compiler import ast
from mlmdsl.compiler.diagnostics import Diagnostic
from mlmdsl.compiler.ir import CheckedModel
from mlmdsl.compiler.passes import (
    build,
    constraints,
    domains,
    effects,
    gp,
    lints,
    modelled,
    outcomes,
    roles,
    shapes,
    structures,
)
from mlmdsl.compiler.passes.symbols import Context


def check(
    program: ast.Program,
    *,
    centered: Mapping[str, bool] | None = None,
    reasons: Mapping[str, str] | None = None,
    default_centered: bool = False,
    columns: Collection[str] | None = None,
) -> tuple[CheckedModel | None, list[Diagnostic]]:
    """Check a parsed program. Returns the checked model (None if there are errors) and all
    diagnostics (errors, warnings and notes).

    `centered` chooses, per group-level parameter (for correlated effects: any one of them),
    the centred (True) or non-centred (False) form; `reasons` says why, for the N600 note. A
    line's `@centered`/`@noncentered` and the file's directive win over both; `default_centered`
    applies to the statements neither names. `columns` are the data's column names, when the
    model is compiled against a table (group-level modelled columns, passes/modelled.py)."""
    ctx = Context(program, centered, reasons, default_centered, columns)
    return run(ctx), ctx.diags


def run(ctx: Context) -> CheckedModel | None:
    """The passes in order; the checked model, or None when a pass found an error."""
    roles.run(ctx)
    domains.run(ctx)
    shapes.run(ctx)
    structures.run(ctx)
    effects.run(ctx)
    gp.run(ctx)
    roles.read_as_data_warnings(ctx)  # after domains: it names the grouping a column is read at
    constraints.run(ctx)
    outcomes.run(ctx)
    modelled.run(ctx)
    roles.require_likelihood(ctx)
    if ctx.has_errors:
        return None
    model = build.run(ctx)
    if ctx.has_errors:  # a cycle among derived quantities is found while ordering them
        return None
    lints.run(ctx)
    return model
