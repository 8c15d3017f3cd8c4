"""Pass `shapes`: model text -> scalar/vector errors and the parameters a distribution sizes."""

from __future__ import annotations

import pytest

from mlmdsl.compiler.parse import parse
from mlmdsl.compiler.passes import domains, roles, shapes
from mlmdsl.compiler.passes.symbols import Context


def context(text: str) -> Context:
    program, diags = parse(text, "m.mlm")
    assert program is not None, diags
    ctx = Context(program)
    for p in (roles, domains, shapes):
        p.run(ctx)
    return ctx


ORDINAL = "y[i] ~ OrderedLogistic(0, c)\nc ~ Normal(0, 1.5)\n"
BLOCK = (
    "y[i] ~ Normal(a[g[i]] + b[g[i]], s)\n[a, b][j] ~ MVNormal([0, 0], R, t)\n"
    "R ~ LKJcorr(2)\nt ~ Exponential(1)\ns ~ Exponential(1)\n"
)

SIZED = [
    ("cutpoints", ORDINAL, {"c": "ordered"}),
    ("block scales and correlation", BLOCK, {"t": "scales", "R": "corr", "s": None}),
]


@pytest.mark.parametrize("what,text,expected", SIZED, ids=[s[0] for s in SIZED])
def test_sized(what: str, text: str, expected: dict[str, str | None]) -> None:
    ctx = context(text)
    assert not ctx.has_errors, ctx.diags
    assert {n: ctx.syms[n].sized for n in expected} == expected


ERRORS = [
    ("scalar parameter indexed", "y[i] ~ Normal(m[g[i]], 1)\nm ~ Normal(0, 1)\n", "E311"),
    ("scalar derived indexed", "y[i] ~ Normal(m[i], 1)\nm = 0\n", "E311"),
    ("vector used bare", "y[i] ~ Normal(a[g[i]] + a, 1)\na[j] ~ Normal(0, 1)\n", "E312"),
    ("cutpoints indexed", "y[i] ~ OrderedLogistic(0, c[i])\nc ~ Normal(0, 1.5)\n", "E320"),
    ("a group letter over nothing", "y[i] ~ Normal(0, 1)\na[j] ~ Normal(0, 1)\n", "E316"),
]


@pytest.mark.parametrize("what,text,code", ERRORS, ids=[e[0] for e in ERRORS])
def test_shape_errors(what: str, text: str, code: str) -> None:
    assert [d.code for d in context(text).diags if d.is_error][:1] == [code]
