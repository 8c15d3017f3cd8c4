"""Pass `roles`: model text -> what each name is, and the statements as read."""

from __future__ import annotations

import pytest

from mlmdsl.compiler.parse import parse
from mlmdsl.compiler.passes import roles
from mlmdsl.compiler.passes.symbols import Context


def context(text: str) -> Context:
    program, diags = parse(text, "m.mlm")
    assert program is not None, diags
    ctx = Context(program)
    roles.run(ctx)
    return ctx


ROLES = [
    (
        "partial pooling",
        "y[i] ~ Normal(mu[i], sigma)\nmu[i] = a[g[i]] + b * x[i]\na[j] ~ Normal(0, s)\n"
        "b ~ Normal(0, 1)\ns ~ Exponential(1)\nsigma ~ Exponential(1)\n",
        {"y": "outcome", "mu": "derived", "a": "param", "b": "param", "s": "param", "sigma": "param",
         "g": "data", "x": "data"},
    ),
    (
        "a linked derived quantity",
        "y[i] ~ Bernoulli(p[i])\nlogit(p[i]) = a\na ~ Normal(0, 1)\n",
        {"y": "outcome", "p": "derived", "a": "param"},
    ),
    (
        "correlated effects are parameters",
        "y[i] ~ Normal(a[g[i]] + b[g[i]] * x[i], s)\n[a, b][j] ~ MVNormal([0, 0], R, t)\n"
        "R ~ LKJcorr(2)\nt ~ Exponential(1)\ns ~ Exponential(1)\n",
        {"a": "param", "b": "param", "R": "param", "t": "param", "g": "data", "x": "data"},
    ),
    (
        "a name without a prior becomes a parameter once reported",
        "y[i] ~ Normal(m, 1)\n",
        {"y": "outcome", "m": "param"},
    ),
    (
        "@rows picks the row letter",
        "@rows n\ny[n] ~ Normal(m, 1)\nm ~ Normal(0, 1)\n",
        {"y": "outcome", "m": "param"},
    ),
]


@pytest.mark.parametrize("what,text,expected", ROLES, ids=[r[0] for r in ROLES])
def test_roles(what: str, text: str, expected: dict[str, str]) -> None:
    ctx = context(text)
    assert {n: s.role for n, s in ctx.syms.items() if n in expected} == expected


KINDS = [
    ("likelihood", "y[i] ~ Normal(0, 1)\n", ["likelihood"]),
    ("scalar prior", "y[i] ~ Normal(m, 1)\nm ~ Normal(0, 1)\n", ["likelihood", "prior"]),
    ("group prior", "y[i] ~ Normal(a[g[i]], 1)\na[j] ~ Normal(0, 1)\n", ["likelihood", "group_prior"]),
    ("joint prior", "[a, b][j] ~ MVNormal(0, R, t)\n", ["joint_prior"]),
    ("derived", "mu[i] = 1\nlogit(p) = 0\n", ["derived", "derived"]),
    ("a statement in error is dropped", "mu[i] + 1 ~ Normal(0, 1)\ny[i] ~ Normal(0, 1)\n", ["likelihood"]),
]


@pytest.mark.parametrize("what,text,kinds", KINDS, ids=[k[0] for k in KINDS])
def test_statement_kinds(what: str, text: str, kinds: list[str]) -> None:
    assert [st.kind for st in context(text).stmts] == kinds


def test_slots_are_recorded_for_direct_arguments() -> None:
    ctx = context("y[i] ~ Normal(mu[i], sigma)\nmu[i] = a\na ~ Normal(0, 1)\nsigma ~ Exponential(1)\n")
    assert {u.slot for u in ctx.syms["sigma"].uses} == {"scale"}
    assert {u.slot for u in ctx.syms["mu"].uses} == {"loc"}
    assert {u.slot for u in ctx.syms["a"].uses} == {None}  # inside an expression, no slot


def test_the_row_letter_and_directives() -> None:
    ctx = context("@centered\n@rows n\ny[n] ~ Normal(0, 1)\n")
    assert (ctx.row_letter, ctx.default_centered, ctx.directive_given) == ("n", True, True)
