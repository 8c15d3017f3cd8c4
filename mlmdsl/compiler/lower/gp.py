"""Gaussian processes in Stan, in the Cholesky non-centred form (Rethinking m14.8):

    data { matrix[N_society, N_society] Dmat; }
    parameters { vector[N_society] z_k; }
    transformed parameters {
      vector[N_society] k;
      {
        matrix[N_society, N_society] L_K
          = cholesky_decompose(add_diag(etasq * exp(-rhosq * square(Dmat)), 0.01));
        k = L_K * z_k;
      }
    }
    model { z_k ~ std_normal(); }

The kernel is a local of a nested block, so neither K nor its factor is saved with every draw.
"""

from __future__ import annotations

from collections.abc import Callable

from mlmdsl.compiler import ast, gp
from mlmdsl.compiler.ir import CheckedModel, GaussianProcess
from mlmdsl.compiler.lower.program import Code, Line, stmt_comment, wrap


def data_lines(m: CheckedModel, size_of: Callable[[str], str]) -> list[Line]:
    out, seen = [], set()
    for g in m.gps:
        if g.matrix in seen:
            continue
        seen.add(g.matrix)
        n = size_of(g.grouping)
        out.append(
            Line(
                f"matrix[{n}, {n}] {g.matrix_stan};",
                f"distances between the levels of {g.grouping}; line {g.kernel_stmt.span.line}",
            )
        )
    return out


def transformed_lines(m: CheckedModel, g: GaussianProcess, n: str, expr: Callable[[ast.Expr], Code]) -> list[Line]:
    etasq, rhosq, delta = (expr(a) for a in (g.etasq, g.rhosq, g.delta))
    d = gp.KERNELS[g.kernel].format(d=g.matrix_stan)
    kernel = f"{wrap(etasq, 2)} * exp(-{wrap(rhosq, 3)} * {d})"
    value = f"{g.chol} * {g.z}"
    if not (isinstance(g.mean, ast.Num) and g.mean.value == 0):
        value = f"{wrap(expr(g.mean), 1)} + {value}"
    effect = m.stan_names[g.effect]
    comment = f"{stmt_comment(m, g.stmt)}; {stmt_comment(m, g.kernel_stmt)}"
    return [
        Line(f"vector[{n}] {effect};", comment + " (Cholesky, non-centred)"),
        Line("{"),
        Line(f"  matrix[{n}, {n}] {g.chol} = cholesky_decompose(add_diag({kernel}, {delta.text}));"),
        Line(f"  {effect} = {value};"),
        Line("}"),
    ]
