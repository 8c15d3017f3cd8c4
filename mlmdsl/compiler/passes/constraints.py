"""Pass 5, constraints: what each distribution accepts, and the bounds each parameter gets.

`run` checks every statement's distribution against its place (no discrete priors, no
prior-only families as outcomes, MVNormal and LKJcorr where they belong) and its literal
arguments against their kinds (positive scales, probabilities in [0, 1], trials from data).
`bounds` is read by `build`: the support of a parameter's prior and of the slots it fills.
"""

from __future__ import annotations

from mlmdsl.compiler import ast
from mlmdsl.compiler.passes.modelled import is_group_modelled
from mlmdsl.compiler.passes.symbols import Context, Stmt, Sym


def run(ctx: Context) -> None:
    for st in ctx.stmts:
        if st.family is not None:
            prior_checks(ctx, st)


def prior_checks(ctx: Context, st: Stmt) -> None:
    fam = st.family
    assert fam is not None
    # A group-level modelled column is observed: a discrete one is read as data (passes/modelled.py).
    if st.kind != "likelihood" and fam.discrete and not is_group_modelled(ctx, st):
        ctx.err(
            "E208",
            f"{fam.name} is a distribution of counts or categories; parameters are continuous",
            st.node.rhs.span,
            "a prior needs a continuous distribution such as Normal or Exponential",
        )
    if st.kind == "likelihood" and not fam.outcome:
        ctx.err("E204", f"{fam.name} cannot be the distribution of an outcome", st.node.rhs.span)
    if st.kind != "likelihood" and not fam.prior and not fam.discrete:
        ctx.err("E204", f"{fam.name} cannot be a prior", st.node.rhs.span)
    if fam.name == "MVNormal" and st.kind != "joint_prior" and fam.arity == 3:  # 2: a GP (passes/gp.py)
        ctx.err(
            "E205",
            "MVNormal is for correlated effects: write `[a, b][j] ~ MVNormal([abar, bbar], Rho, tau)`",
            st.node.lhs.span,
        )
    if fam.name == "LKJcorr" and st.kind != "prior":
        ctx.err("E205", "LKJcorr is the prior of a correlation matrix such as `Rho`", st.node.lhs.span)
    for (argname, kind), arg in zip(fam.args, st.args, strict=True):
        if isinstance(arg, ast.Num):
            if kind in ("scale", "positive", "scales") and arg.value <= 0:
                ctx.err(
                    "E204",
                    f"the {argname} of {fam.name} must be positive, got {arg.text}",
                    arg.span,
                )
            if kind == "prob" and not 0 <= arg.value <= 1:
                ctx.err("E204", f"the {argname} of {fam.name} must be in [0, 1], got {arg.text}", arg.span)
            if kind in ("ordered", "corr"):  # a mean vector may be one number for all
                ctx.err("E320", f"the {argname} of {fam.name} must be a vector, got {arg.text}", arg.span)
        if kind == "trials" and not ctx.is_data_expr(arg):
            ctx.err("E204", f"the {argname} of {fam.name} must be data (number of trials)", arg.span)
    if fam.name == "Uniform" and st.kind != "likelihood":
        if not all(isinstance(a, ast.Num) for a in st.args):
            ctx.err("E204", "the bounds of a Uniform prior must be numbers", st.node.rhs.span)
        elif st.args[0].value >= st.args[1].value:  # type: ignore[union-attr]
            ctx.err("E204", "Uniform(lower, upper) needs lower < upper", st.node.rhs.span)


def bounds(ctx: Context, sym: Sym, st: Stmt) -> tuple[str | None, str | None, bool]:
    fam = st.family
    assert fam is not None
    lower = upper = None
    if fam.support == "positive":
        lower = "0"
    elif fam.support == "unit":
        lower, upper = "0", "1"
    elif fam.name == "Uniform" and all(isinstance(a, ast.Num) for a in st.args):
        lower, upper = st.args[0].text, st.args[1].text  # type: ignore[union-attr]
    slots = {u.slot for u in sym.uses}
    if slots & {"scale", "positive", "scales"} and lower is None:
        lower = "0"
    if "prob" in slots and lower is None and upper is None:
        lower, upper = "0", "1"
    return lower, upper, sym.sized == "ordered"


