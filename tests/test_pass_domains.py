"""Pass `domains`: model text -> the domain of each indexed name, the groupings, the errors."""

from __future__ import annotations

import pytest

from mlmdsl.compiler.ir import ROWS
from mlmdsl.compiler.parse import parse
from mlmdsl.compiler.passes import domains, roles
from mlmdsl.compiler.passes.symbols import Context


def context(text: str) -> Context:
    program, diags = parse(text, "m.mlm")
    assert program is not None, diags
    ctx = Context(program)
    roles.run(ctx)
    domains.run(ctx)
    return ctx


NESTED = (
    "y[i] ~ Normal(mu[i], s)\nmu[i] = a[class[i]] + x[i]\na[j] ~ Normal(b[school[j]], t)\n"
    "b[k] ~ Normal(0, 1)\ns ~ Exponential(1)\nt ~ Exponential(1)\n"
)

DOMAINS = [
    ("rows and one grouping", "y[i] ~ Normal(a[g[i]], 1)\na[j] ~ Normal(0, 1)\n", {"y": ROWS, "a": "g"}),
    ("a derived quantity per row", "y[i] ~ Normal(mu[i], 1)\nmu[i] = 0\n", {"y": ROWS, "mu": ROWS}),
    ("nested groupings pass through a group letter", NESTED, {"mu": ROWS, "a": "class", "b": "school"}),
    (
        "crossed groupings",
        "y[i] ~ Normal(a[p[i]] + c[q[i]], 1)\na[j] ~ Normal(0, 1)\nc[k] ~ Normal(0, 1)\n",
        {"a": "p", "c": "q"},
    ),
    (
        "a group-level derived quantity",
        "y[i] ~ Normal(m[g[i]], 1)\nm[j] = a[j] + 1\na[j] ~ Normal(0, 1)\n",
        {"m": "g", "a": "g"},
    ),
]


@pytest.mark.parametrize("what,text,expected", DOMAINS, ids=[d[0] for d in DOMAINS])
def test_domains(what: str, text: str, expected: dict[str, str]) -> None:
    ctx = context(text)
    assert not ctx.has_errors, ctx.diags
    assert {n: ctx.syms[n].domain for n in expected} == expected


def test_groupings_are_the_columns_used_as_indices() -> None:
    ctx = context(NESTED)
    assert set(ctx.groupings) == {"class", "school"}
    assert ctx.syms["x"].data_levels.keys() == {ROWS}
    assert ctx.syms["school"].as_index.keys() == {"class"}  # school is read per class


ERRORS = [
    ("two groupings for one parameter", "y[i] ~ Normal(a[g[i]] + a[h[i]], 1)\na[j] ~ Normal(0, 1)\n", "E313"),
    ("unbound letter", "y[i] ~ Normal(a[g[k]], 1)\na[j] ~ Normal(0, 1)\n", "E310"),
    ("parameter as an index", "y[i] ~ Normal(a[m[i]], 1)\na[j] ~ Normal(0, 1)\nm ~ Normal(0, 1)\n", "E315"),
    ("row index at group level", "y[i] ~ Normal(a[g[i]], 1)\na[j] ~ Normal(x[i], 1)\n", "E314"),
]


@pytest.mark.parametrize("what,text,code", ERRORS, ids=[e[0] for e in ERRORS])
def test_domain_errors(what: str, text: str, code: str) -> None:
    assert code in [d.code for d in context(text).diags if d.is_error]
