"""Modelled columns in Stan: observed values where the data has them, parameters elsewhere.

    data { vector[N] B_data; int<lower=0, upper=N> N_B_missing;
           array[N_B_missing] int<lower=1, upper=N> B_missing_rows; }
    parameters { vector[N_B_missing] B_impute; }
    transformed parameters { vector[N] B = B_data; B[B_missing_rows] = B_impute; }

Every statement then uses `B`; its own statement (`B ~ normal(nu, sigma_B)`) is the likelihood of
the observed cells and the prior of the imputed ones. The sizes are data, so one program serves
any pattern of missing cells, including a column absent from the data (every cell missing).
"""

from __future__ import annotations

from mlmdsl.compiler.ir import CheckedModel, Modelled
from mlmdsl.compiler.lower.program import Line, stan_number


def data_lines(c: Modelled) -> list[Line]:
    return [
        Line(f"int<lower=0, upper=N> {c.n_missing};", f"missing cells of {c.name}"),
        Line(f"array[{c.n_missing}] int<lower=1, upper=N> {c.missing_rows};", "their rows"),
    ]


def parameter_line(c: Modelled) -> Line:
    bounds = [f"lower={stan_number(c.lower)}"] if c.lower is not None else []
    if c.upper is not None:
        bounds.append(f"upper={stan_number(c.upper)}")
    b = f"<{', '.join(bounds)}>" if bounds else ""
    return Line(f"vector{b}[{c.n_missing}] {c.impute};", f"line {c.line}; the missing cells of {c.name}, imputed")


def merged_lines(c: Modelled) -> list[Line]:
    return [
        Line(f"vector[N] {c.stan} = {c.values};", f"line {c.line}: {c.name} is modelled: observed or imputed"),
        Line(f"{c.stan}[{c.missing_rows}] = {c.impute};"),
    ]


def imputable(m: CheckedModel) -> tuple[Modelled, ...]:
    return tuple(c for c in m.modelled if not c.discrete)
