"""Pass `constraints`: what each distribution accepts, and the bounds a parameter gets."""

from __future__ import annotations

import pytest

from mlmdsl.compiler.check import check
from mlmdsl.compiler.parse import parse
from mlmdsl.compiler.passes import constraints, domains, roles
from mlmdsl.compiler.passes.symbols import Context


def errors(text: str) -> list[str]:
    program, diags = parse(text, "m.mlm")
    assert program is not None, diags
    ctx = Context(program)
    for p in (roles, domains, constraints):
        p.run(ctx)
    return [d.code for d in ctx.diags if d.is_error]


ERRORS = [
    ("a fine model", "y[i] ~ Normal(m, s)\nm ~ Normal(0, 1)\ns ~ Exponential(1)\n", []),
    ("a negative scale", "y[i] ~ Normal(m, 1)\nm ~ Normal(0, -1)\n", ["E204"]),
    ("a probability above 1", "y[i] ~ Bernoulli(1.5)\n", ["E204"]),
    ("a discrete prior", "y[i] ~ Normal(m, 1)\nm ~ Poisson(3)\n", ["E208"]),
    ("a prior-only family as outcome", "y[i] ~ HalfNormal(1)\n", ["E204"]),
    ("trials from a parameter", "y[i] ~ Binomial(n, 0.5)\nn ~ Exponential(1)\n", ["E204"]),
    ("Uniform with reversed bounds", "y[i] ~ Normal(m, 1)\nm ~ Uniform(2, 1)\n", ["E204"]),
]


@pytest.mark.parametrize("what,text,expected", ERRORS, ids=[e[0] for e in ERRORS])
def test_argument_checks(what: str, text: str, expected: list[str]) -> None:
    assert errors(text) == expected


BOUNDS = [
    ("a scale by its prior", "y[i] ~ Normal(0, s)\ns ~ Exponential(1)\n", "s", ("0", None)),
    ("a scale by its use", "y[i] ~ Normal(0, s)\ns ~ Normal(0, 1)\n", "s", ("0", None)),
    ("a probability by its use", "y[i] ~ Bernoulli(p)\np ~ Normal(0, 1)\n", "p", ("0", "1")),
    ("a Beta prior", "y[i] ~ Bernoulli(p)\np ~ Beta(2, 2)\n", "p", ("0", "1")),
    ("Uniform's numbers", "y[i] ~ Normal(m, 1)\nm ~ Uniform(-2, 3)\n", "m", ("-2", "3")),
    ("unbounded", "y[i] ~ Normal(m, 1)\nm ~ Normal(0, 1)\n", "m", (None, None)),
]


@pytest.mark.parametrize("what,text,name,expected", BOUNDS, ids=[b[0] for b in BOUNDS])
def test_bounds(what: str, text: str, name: str, expected: tuple[str | None, str | None]) -> None:
    program, _ = parse(text, "m.mlm")
    model, diags = check(program)
    assert model is not None, diags
    p = model.param(name)
    assert (p.lower, p.upper) == expected
