"""The pipeline in one place: text -> parse -> check -> lower -> emit.

Pure functions; nothing here imports a sampler, so `mlm transpile` and `mlm check` start fast.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from mlmdsl.compiler import ast
from mlmdsl.compiler.check import check
from mlmdsl.compiler.diagnostics import Diagnostic
from mlmdsl.compiler.emit import emit
from mlmdsl.compiler.ir import CheckedModel
from mlmdsl.compiler.lower import Lowered, lower
from mlmdsl.compiler.parse import parse

# The forms of the varying effects a caller may ask for (Model.fit, `mlm fit --parameterization`).
PARAMETERIZATIONS = ("auto", "noncentered", "centered")


@dataclass(frozen=True)
class Compiled:
    source: str
    filename: str
    diagnostics: tuple[Diagnostic, ...]
    program: ast.Program | None = None
    model: CheckedModel | None = None
    lowered: Lowered | None = None
    stan_code: str | None = None
    generated_quantities: bool = True  # as asked, so a recompilation keeps it
    # The data's columns it was compiled against (group-level modelled columns), kept likewise.
    columns: frozenset[str] = frozenset()

    @property
    def ok(self) -> bool:
        return self.stan_code is not None and not any(d.is_error for d in self.diagnostics)


def compile_source(
    source: str,
    filename: str = "<model>",
    *,
    generated_quantities: bool = True,
    centered: Mapping[str, bool] | None = None,
    reasons: Mapping[str, str] | None = None,
    default_centered: bool = False,
    cells: bool = False,
    threads: bool = False,
    columns: Collection[str] | None = None,
    shift_means: bool = True,
    marginalize: bool = False,
) -> Compiled:
    """`centered` overrides the parameterization per group-level parameter (`{"alpha": True}`
    samples `alpha` centred), `reasons` explains each choice in its N600 note, and
    `default_centered` is the form of every statement neither the text nor `centered` decides.
    A line's `@centered`/`@noncentered` and the file's `@centered` directive always win.
    `cells` writes the likelihood over cells of identical rows (sufficient statistics; the data
    must then carry mlmdsl.data.cells' arrays); `threads` writes it as `reduce_sum`.
    `columns` are the data's column names (mlmdsl.data.modelled.for_columns passes those named
    like a group-level line): such a line models the column instead of declaring an effect.
    `shift_means=False` keeps a varying intercept's mean in the cutpoints it is confounded with
    (lower/shifts.py; the same posterior, for the tests that compare the two).
    `marginalize` integrates a Normal varying intercept out of a Normal likelihood where the
    model allows (lower/marginal.py) and draws it in generated quantities."""
    cols = frozenset(columns or ())
    program, diags = parse(source, filename)
    if program is None:
        return Compiled(source, filename, tuple(diags), generated_quantities=generated_quantities, columns=cols)
    model, check_diags = check(
        program, centered=centered, reasons=reasons, default_centered=default_centered, columns=cols
    )
    diags = [*diags, *check_diags]
    if model is None:
        return Compiled(
            source, filename, tuple(diags), program, generated_quantities=generated_quantities, columns=cols
        )
    lowered = lower(
        model, generated_quantities, cells=cells, threads=threads, shift_means=shift_means, marginalize=marginalize
    )
    code = emit(lowered.program, filename)
    return Compiled(source, filename, tuple(diags), program, model, lowered, code, generated_quantities, cols)
