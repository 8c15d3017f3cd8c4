"""Pass `structures`: MVNormal blocks, ordered outcomes and LKJcorr -> their errors."""

from __future__ import annotations

import pytest

from mlmdsl.compiler.parse import parse
from mlmdsl.compiler.passes import domains, roles, shapes, structures
from mlmdsl.compiler.passes.symbols import Context


def codes(text: str) -> list[str]:
    program, diags = parse(text, "m.mlm")
    assert program is not None, diags
    ctx = Context(program)
    for p in (roles, domains, shapes, structures):
        p.run(ctx)
    return [d.code for d in ctx.diags if d.is_error]


def block(mean: str = "[0, 0]", corr: str = "R", scales: str = "t", extra: str = "") -> str:
    return (
        f"y[i] ~ Normal(a[g[i]] + b[g[i]], s)\n[a, b][j] ~ MVNormal({mean}, {corr}, {scales})\n"
        f"R ~ LKJcorr(2)\nt ~ Exponential(1)\ns ~ Exponential(1)\n{extra}"
    )


TABLE = [
    ("a well-formed block", block(), []),
    ("one mean for two effects", block(mean="[0]"), ["E204"]),
    ("the mean is not a list", block(mean="m", extra="m ~ Normal(0, 1)\n"), ["E320"]),
    ("the scales are an expression", block(scales="t * 2"), ["E320"]),
    (
        "effects on two groupings",
        "y[i] ~ Normal(a[g[i]] + b[h[i]], s)\n[a, b][j] ~ MVNormal([0, 0], R, t)\n"
        "R ~ LKJcorr(2)\nt ~ Exponential(1)\ns ~ Exponential(1)\n",
        ["E319"],
    ),
    ("Rho without LKJcorr", block().replace("R ~ LKJcorr(2)", "R ~ Normal(0, 1)"), ["E204"]),
    ("a well-formed ordered outcome", "y[i] ~ OrderedLogistic(0, c)\nc ~ Normal(0, 1.5)\n", []),
    ("cutpoints as an expression", "y[i] ~ OrderedLogistic(0, c + 1)\nc ~ Normal(0, 1.5)\n", ["E320"]),
    ("cutpoints on a positive prior", "y[i] ~ OrderedLogistic(0, c)\nc ~ Exponential(1)\n", ["E204"]),
    ("LKJcorr of no block", "y[i] ~ Normal(0, R)\nR ~ LKJcorr(2)\n", ["E204"]),
]


@pytest.mark.parametrize("what,text,expected", TABLE, ids=[t[0] for t in TABLE])
def test_structures(what: str, text: str, expected: list[str]) -> None:
    assert codes(text)[:1] == expected
