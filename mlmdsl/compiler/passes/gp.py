"""Pass 4d, Gaussian processes: `k[j] ~ MVNormal(mean, K)` with `K = cov_GPL2(Dmat, etasq, rhosq,
delta)` (compiler/gp.py).

Each kernel has four arguments: a matrix supplied beside the table (a bare name, used nowhere
else), and etasq, rhosq and delta, each a number or a scalar parameter. Each kernel is the
covariance of exactly one two-argument MVNormal, whose left side is one effect per level of a
grouping and whose mean is a number or a scalar parameter.
"""

from __future__ import annotations

from mlmdsl.compiler import ast, gp
from mlmdsl.compiler.passes.symbols import Context, Stmt

# Misuse of a Gaussian process or its kernel.
E_GP = "E331"
EXAMPLE = "K = cov_GPL2(Dmat, etasq, rhosq, 0.01)"


def gp_statements(ctx: Context) -> list[Stmt]:
    return [st for st in ctx.stmts if st.family is gp.GP_FAMILY]


def run(ctx: Context) -> None:
    kernels = {st.targets[0]: st for st in ctx.stmts if st.kind == "kernel"}
    used: dict[str, Stmt] = {}
    for st in gp_statements(ctx):
        check_gp(ctx, st, kernels, used)
    for name, st in kernels.items():
        check_kernel(ctx, st)
        if name not in used:
            ctx.err(
                E_GP,
                f"`{name}` is a covariance kernel but no `MVNormal(0, {name})` uses it",
                st.target_spans[0],
                f"use it as the covariance of group effects, e.g. `k[j] ~ MVNormal(0, {name})`",
            )
        for u in ctx.syms[name].uses:
            if u.stmt.family is not gp.GP_FAMILY:
                ctx.err(
                    E_GP,
                    f"`{name}` is a covariance matrix (line {st.node.span.line}); it can only be the "
                    "second argument of `MVNormal`",
                    u.span,
                )
    for sym in ctx.syms.values():
        if sym.role != "matrix":
            continue
        for u in sym.uses:
            if u.slot != "matrix" or u.stmt.kind != "kernel":
                ctx.err(
                    E_GP,
                    f"`{sym.name}` is a distance matrix supplied beside the table; it can only be the "
                    "first argument of cov_GPL1 or cov_GPL2",
                    u.span,
                )


def check_gp(ctx: Context, st: Stmt, kernels: dict[str, Stmt], used: dict[str, Stmt]) -> None:
    target = st.targets[0]
    if st.letter == ctx.row_letter:
        ctx.err(
            E_GP,
            f"a Gaussian process here is over the levels of a grouping, but `{st.letter}` is the row index",
            st.node.lhs.span,
            f"index the effect by a group letter, e.g. `{target}[j] ~ MVNormal(0, K)`",
        )
    mean, cov = st.args
    if not _scalar(ctx, mean):
        ctx.err(
            E_GP,
            f"the mean of a Gaussian process must be a number or a single parameter, found `{ast.to_text(mean)}`",
            mean.span,
            "write `MVNormal(0, K)` and put the mean in the linear predictor",
        )
    if not isinstance(cov, ast.Name) or cov.id not in kernels:
        what = ast.to_text(cov)
        ctx.err(
            E_GP,
            f"the covariance of `{target}` must be a kernel defined with cov_GPL2 or cov_GPL1, found `{what}`",
            cov.span,
            f"define it on its own line, e.g. `{EXAMPLE}`, and write `MVNormal(0, K)`"
            if not isinstance(cov, ast.Name)
            else f"define it: `{cov.id} = cov_GPL2(Dmat, etasq, rhosq, 0.01)`",
        )
        return
    if cov.id in used:
        ctx.err(
            E_GP,
            f"`{cov.id}` is already the covariance of `{used[cov.id].targets[0]}` (line "
            f"{used[cov.id].node.span.line}); each Gaussian process needs its own kernel",
            cov.span,
        )
        return
    used[cov.id] = st


def check_kernel(ctx: Context, st: Stmt) -> None:
    call = st.rhs
    assert isinstance(call, ast.Call)
    if len(call.args) != 4:
        ctx.err(
            "E203",
            f"{call.func} takes 4 arguments (distances, etasq, rhosq, delta), got {len(call.args)}",
            call.span,
            f"e.g. `{EXAMPLE}`",
        )
        return
    dist, *rest = call.args
    if not isinstance(dist, ast.Name) or ctx.role(dist.id) != "matrix":
        ctx.err(
            E_GP,
            f"the first argument of {call.func} is a distance matrix supplied beside the table, found "
            f"`{ast.to_text(dist)}`",
            dist.span,
            "write its name alone, e.g. `Dmat`, and pass it with the data: "
            '`data={"table": df, "Dmat": matrix}` or `--data-matrix Dmat=FILE.csv`',
        )
    for name, a in zip(gp.KERNEL_ARGS[1:], rest, strict=True):
        if not _scalar(ctx, a):
            ctx.err(
                E_GP,
                f"{name} of {call.func} must be a number or a single parameter, found `{ast.to_text(a)}`",
                a.span,
            )
        elif isinstance(a, ast.Num) and (a.value < 0 or (a.value == 0 and name != "delta")):
            ctx.err(E_GP, f"{name} of {call.func} must be positive, found {a.text}", a.span)


def _scalar(ctx: Context, e: ast.Expr) -> bool:
    if isinstance(e, ast.Num):
        return True
    if isinstance(e, ast.Neg) and isinstance(e.operand, ast.Num):
        return True
    if isinstance(e, ast.Name):
        sym = ctx.syms.get(e.id)
        return sym is not None and sym.role == "param" and not sym.decl_indexed
    return False
