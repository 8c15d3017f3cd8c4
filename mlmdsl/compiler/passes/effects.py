"""Pass 4b, constrained effects: `@sum_to_zero` on an index-effect line.

`b[k] ~ Normal(0, s) @sum_to_zero` declares `b` as Stan's `sum_to_zero_vector`, whose prior scale
lowering corrects so each entry keeps the marginal scale `s` written on the line. The annotation
belongs on a group-level line (one value per level of an index), with a Normal prior of mean 0:
a mean other than 0 contradicts the constraint. (Robust group effects, `a[j] ~ StudentT(nu, abar,
sigma_a)`, need no pass of their own: every location-scale family is non-centred as Normal is.)
"""

from __future__ import annotations

from mlmdsl.compiler import ast
from mlmdsl.compiler.passes.roles import SUM_TO_ZERO
from mlmdsl.compiler.passes.symbols import Context, Stmt

# Misuse of @sum_to_zero.
E_SUM_TO_ZERO = "E330"


def run(ctx: Context) -> None:
    for st in ctx.stmts:
        if st.sum_to_zero:
            check_sum_to_zero(ctx, st)


def _annotation_span(st: Stmt) -> ast.Span:
    return next(a.span for a in st.node.annotations if a.name == SUM_TO_ZERO)


def check_sum_to_zero(ctx: Context, st: Stmt) -> None:
    span = _annotation_span(st)
    if st.kind != "group_prior":
        what = {
            "likelihood": "an outcome",
            "prior": f"the single parameter `{st.targets[0]}`",
            "joint_prior": "correlated effects",
            "derived": "a quantity defined with `=`",
        }.get(st.kind, "this line")
        ctx.err(
            E_SUM_TO_ZERO,
            f"`@sum_to_zero` constrains an index effect such as `b[k] ~ Normal(0, s)`, not {what}",
            span,
            "put it on a line that gives one value per level, e.g. `b[k] ~ Normal(0, sigma_b) @sum_to_zero`",
        )
        return
    fam = st.family
    if fam is None:
        return  # the distribution was reported already
    target = st.targets[0]
    if fam.name != "Normal":
        ctx.err(
            E_SUM_TO_ZERO,
            f"`@sum_to_zero` needs a Normal prior (Stan's sum_to_zero_vector), not {fam.name}",
            st.node.rhs.span,
            f"write `{target}[{st.letter}] ~ Normal(0, sigma_{target}) @sum_to_zero`",
        )
        return
    loc = st.args[0]
    if not (isinstance(loc, ast.Num) and loc.value == 0):
        ctx.err(
            E_SUM_TO_ZERO,
            f"a sum-to-zero effect has mean 0, but its prior's mean is `{ast.to_text(loc)}`",
            loc.span,
            f"write `Normal(0, ...)` and put `{ast.to_text(loc)}` in the linear predictor as an intercept",
        )
    if st.centered is False:
        ctx.err(
            E_SUM_TO_ZERO,
            f"`{target}` is a sum-to-zero vector, which Stan samples as one constrained vector; it "
            "cannot also be non-centred",
            next(a.span for a in st.node.annotations if a.name != SUM_TO_ZERO),
            "remove `@noncentered`",
        )
