"""Pass `lints`: a model that checks -> the warnings it deserves."""

from __future__ import annotations

import pytest

from mlmdsl.compiler.check import check
from mlmdsl.compiler.parse import parse


def warnings(text: str) -> list[str]:
    program, _ = parse(text, "m.mlm")
    model, diags = check(program)
    assert model is not None, diags
    return sorted(d.code for d in diags if d.severity == "warning")


TABLE = [
    ("clean", "y[i] ~ Normal(m, s)\nm ~ Normal(0, 1)\ns ~ Exponential(1)\n", []),
    ("an unused parameter", "y[i] ~ Normal(m, 1)\nm ~ Normal(0, 1)\nz ~ Normal(0, 1)\n", ["W500"]),
    ("an unused quantity", "y[i] ~ Normal(m, 1)\nm ~ Normal(0, 1)\nd = m * 2\n", ["W501"]),
    (
        "two free intercept means in mu[i] =",
        "y[i] ~ Normal(mu[i], 1)\nmu[i] = a[p[i]] + c[q[i]]\na[j] ~ Normal(am, 1)\nc[k] ~ Normal(cm, 1)\n"
        "am ~ Normal(0, 1)\ncm ~ Normal(0, 1)\n",
        ["W502"],
    ),
    (
        "one mean fixed at 0 is identified",
        "y[i] ~ Normal(mu[i], 1)\nmu[i] = a[p[i]] + c[q[i]]\na[j] ~ Normal(am, 1)\nc[k] ~ Normal(0, 1)\n"
        "am ~ Normal(0, 1)\n",
        [],
    ),
]


@pytest.mark.parametrize("what,text,expected", TABLE, ids=[t[0] for t in TABLE])
def test_lints(what: str, text: str, expected: list[str]) -> None:
    assert warnings(text) == expected
