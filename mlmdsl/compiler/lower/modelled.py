"""Modelled columns in Stan: observed values where the data has them, parameters elsewhere.

    data { vector[N] B_data; int<lower=0, upper=N> N_B_missing;
           array[N_B_missing] int<lower=1, upper=N> B_missing_rows; }
    parameters { vector[N_B_missing] B_impute; }
    transformed parameters { vector[N] B = B_data; B[B_missing_rows] = B_impute; }

Every statement then uses `B`; its own statement (`B ~ normal(nu, sigma_B)`) is the likelihood of
the observed cells and the prior of the imputed ones. The sizes are data, so one program serves
any pattern of missing cells, including a column absent from the data (every cell missing).

A group-level modelled column (`x[j] ~ Normal(nu, tau)`, `x[id[i]]`) is the same over the levels
of its grouping: `vector[N_id] x_data`, `x_missing_levels` in 1..N_id, `x[id]` in the statements,
and its line written as one vectorised statement over the levels (`x ~ normal(nu, tau)`), always
centred: the observed levels pin it, so there is no funnel to remove. A discrete one is data.
"""

from __future__ import annotations

from mlmdsl.compiler.ir import CheckedModel, Modelled
from mlmdsl.compiler.lower.program import Line, stan_number


def data_lines(c: Modelled, size: str) -> list[Line]:
    """The count and the positions of the missing cells; `size` is N, or N_id at group level."""
    cells = "levels" if c.prior is not None else "rows"
    what = f"levels of {c.level} without a value of {c.name}" if c.prior is not None else f"missing cells of {c.name}"
    return [
        Line(f"int<lower=0, upper={size}> {c.n_missing};", what),
        Line(f"array[{c.n_missing}] int<lower=1, upper={size}> {c.missing_rows};", f"their {cells}"),
    ]


def parameter_line(c: Modelled) -> Line:
    bounds = [f"lower={stan_number(c.lower)}"] if c.lower is not None else []
    if c.upper is not None:
        bounds.append(f"upper={stan_number(c.upper)}")
    b = f"<{', '.join(bounds)}>" if bounds else ""
    cells = f"the levels of {c.level} without {c.name}" if c.prior is not None else f"the missing cells of {c.name}"
    return Line(f"vector{b}[{c.n_missing}] {c.impute};", f"line {c.line}; {cells}, imputed")


def merged_lines(c: Modelled, size: str) -> list[Line]:
    per = f" (one per level of {c.level})" if c.prior is not None else ""
    return [
        Line(
            f"vector[{size}] {c.stan} = {c.values};",
            f"line {c.line}: {c.name} is modelled{per}: observed or imputed",
        ),
        Line(f"{c.stan}[{c.missing_rows}] = {c.impute};"),
    ]


def imputable(m: CheckedModel) -> tuple[Modelled, ...]:
    return tuple(c for c in m.modelled if not c.discrete)


def group_level(m: CheckedModel) -> tuple[Modelled, ...]:
    """Group-level modelled columns, whose own lines are statements of the model block."""
    return tuple(c for c in m.modelled if c.prior is not None)


def statement_target(m: CheckedModel, c: Modelled) -> str:
    """What a group-level column's line samples: the merged vector, or (discrete) its data."""
    if not c.discrete:
        return c.stan
    dv = next(dv for dv in m.data_vars(c.name, c.level) if dv.kind == "outcome")
    return dv.stan
