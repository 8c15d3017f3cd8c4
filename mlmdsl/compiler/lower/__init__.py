"""Stage 3: ir.CheckedModel -> StanProgram (blocks of Stan lines) and the output schema.

Decides *what* the Stan program says; `emit.py` renders the shape. One module per concern, each
building on the one before (imports point one way):

  program       the StanProgram, Line and Code types and text helpers
  expressions   .mlm expressions -> vectorized Stan (`alpha[id[i]]` -> `alpha[id]`)
  declarations  data and parameters blocks, constraints inferred by the checker
  effects       transformed parameters: derived quantities, non-centred effects written with an
                explicit standard normal (`alpha = abar + sigma_a * z_alpha`), correlated blocks,
                and (with `shifts`) a varying intercept's mean sampled apart from what it moves with
  glm           canonical-link shortcuts and Stan's GLM functions, planned per likelihood
  statements    the model block: row locals, likelihoods and priors in the user's order
  generated     log_lik and replicated outcomes, and the output schema
"""

from __future__ import annotations

from mlmdsl.compiler.ir import CheckedModel
from mlmdsl.compiler.lower.cells import cell_kind
from mlmdsl.compiler.lower.generated import Generated
from mlmdsl.compiler.lower.program import Line, Lowered, StanProgram
from mlmdsl.compiler.lower.shifts import mean_shifts
from mlmdsl.compiler.lower.threads import threadable
from mlmdsl.compiler.parse import gc_paused

__all__ = ["Line", "Lowered", "StanProgram", "lower"]


class _Lowerer(Generated):
    def run(self) -> Lowered:
        self.declare_data()
        self.declare_parameters()
        self.lower_derived()
        with self.over_cells():
            self.lower_model()
        gq_vars = self.lower_generated()
        return Lowered(self.out, self.schema(gq_vars), self.shift_plans)


def lower(
    model: CheckedModel,
    generated_quantities: bool = True,
    *,
    _offset_multiplier: bool = False,
    cells: bool = False,
    threads: bool | str = False,
    shift_means: bool = True,
) -> Lowered:
    """`cells` writes the likelihood over cells of rows (sufficient statistics, lower/cells.py;
    only where `cells.cell_kind(model)` is not None; the data then needs `data.cells`' arrays).
    `threads` writes it as `reduce_sum` (lower/threads.py), for within-chain threads: True or
    "group" slices by the levels of a grouping where there is one, "rows" by rows; cells, where
    both are asked, win (the likelihood is then small).
    `_offset_multiplier` writes non-centred effects in the old `offset`/`multiplier` form:
    private, for the benchmark that compares the two (benchmarks/stuck_chains.py).
    `shift_means` samples the mean of a zero-mean varying intercept apart from the parameter it
    is confounded with (lower/shifts.py): the same posterior, a better geometry; False keeps the
    plain form (the tests compare the two)."""
    lowerer = _Lowerer(model, generated_quantities, _offset_multiplier)
    if shift_means and not _offset_multiplier:
        lowerer.plan_shifts(mean_shifts(model))
    lowerer.cells = cells and cell_kind(model) is not None
    lowerer.threads = bool(threads) and not lowerer.cells and threadable(model)
    lowerer.slicing = threads if isinstance(threads, str) else "group"
    with gc_paused():  # see parse.gc_paused
        return lowerer.run()
