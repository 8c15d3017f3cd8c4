"""The pipeline in one place: text -> parse -> check -> lower -> emit.

Pure functions; nothing here imports a sampler, so `mlm transpile` and `mlm check` start fast.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlmdsl import ast
from mlmdsl.check import check
from mlmdsl.diagnostics import Diagnostic
from mlmdsl.emit import emit
from mlmdsl.ir import CheckedModel
from mlmdsl.lower import Lowered, lower
from mlmdsl.parse import parse


@dataclass(frozen=True)
class Compiled:
    source: str
    filename: str
    diagnostics: tuple[Diagnostic, ...]
    program: ast.Program | None = None
    model: CheckedModel | None = None
    lowered: Lowered | None = None
    stan_code: str | None = None

    @property
    def ok(self) -> bool:
        return self.stan_code is not None and not any(d.is_error for d in self.diagnostics)


def compile_source(
    source: str, filename: str = "<model>", *, generated_quantities: bool = True
) -> Compiled:
    program, diags = parse(source, filename)
    if program is None:
        return Compiled(source, filename, tuple(diags))
    model, check_diags = check(program)
    diags = [*diags, *check_diags]
    if model is None:
        return Compiled(source, filename, tuple(diags), program)
    lowered = lower(model, generated_quantities)
    code = emit(lowered.program, filename)
    return Compiled(source, filename, tuple(diags), program, model, lowered, code)
