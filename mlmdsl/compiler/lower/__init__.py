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
  marginal      a Normal varying intercept integrated out of a Normal likelihood (level sums in
                transformed data) and drawn first in generated quantities
  statements    the model block: row locals, likelihoods and priors in the user's order
  generated     log_lik and replicated outcomes, and the output schema
"""

from __future__ import annotations

from mlmdsl.compiler.ir import CheckedModel
from mlmdsl.compiler.lower import marginal
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
        if self.marginal is not None:
            self.marginal_names = marginal.transformed_data(self, self.marginal)
        self.declare_parameters()
        self.lower_derived()
        with self.over_cells():
            self.lower_model()
        gq_vars = self.lower_generated()
        effect = self.marginal.effect if self.marginal is not None else None
        return Lowered(self.out, self.schema(gq_vars), self.shift_plans, effect)


def lower(
    model: CheckedModel,
    generated_quantities: bool = True,
    *,
    _offset_multiplier: bool = False,
    cells: bool = False,
    threads: bool | str = False,
    shift_means: bool = True,
    marginalize: bool = False,
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
    plain form (the tests compare the two).
    `marginalize` integrates a Normal varying intercept out of a Normal likelihood, where
    `marginal.marginal_intercept(model)` finds one, and draws it in generated quantities from
    its exact conditional posterior (lower/marginal.py); cells and threads then do not apply."""
    lowerer = _Lowerer(model, generated_quantities, _offset_multiplier)
    plan = marginal.marginal_intercept(model) if marginalize and not _offset_multiplier else None
    lowerer.marginal = plan
    if shift_means and not _offset_multiplier:
        shifts = mean_shifts(model)
        if plan is not None:  # an integrated-out intercept has no mean to sample apart
            shifts = tuple(s for s in shifts if plan.effect not in (s.effect, s.anchor, s.located))
        lowerer.plan_shifts(shifts)
    # Integrated out, the likelihood is one term per level already: no cells or threads.
    lowerer.cells = cells and plan is None and cell_kind(model) is not None
    lowerer.threads = bool(threads) and plan is None and not lowerer.cells and threadable(model)
    lowerer.slicing = threads if isinstance(threads, str) else "group"
    with gc_paused():  # see parse.gc_paused
        return lowerer.run()
