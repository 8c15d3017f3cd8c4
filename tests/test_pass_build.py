"""Pass `build`: model text -> the CheckedModel's parameters, derived quantities and data."""

from __future__ import annotations

import pytest

from mlmdsl.compiler.check import check
from mlmdsl.compiler.ir import ROWS, CheckedModel
from mlmdsl.compiler.parse import parse

MODEL = (
    "y[i] ~ Normal(mu[i], sigma)\nmu[i] = a[g[i]] + b * x[i]\na[j] ~ Normal(abar, s_a)\n"
    "abar ~ Normal(0, 1)\ns_a ~ Exponential(1)\nb ~ Normal(0, 1)\nsigma ~ Exponential(1)\n"
)


def build(text: str) -> CheckedModel:
    program, _ = parse(text, "m.mlm")
    model, diags = check(program)
    assert model is not None, diags
    return model


def test_parameters_in_declaration_order_with_shapes_and_roles() -> None:
    m = build(MODEL)
    assert [(p.name, p.shape, p.role) for p in m.params] == [
        ("abar", "scalar", "hyper"),
        ("s_a", "scalar", "hyper"),
        ("b", "scalar", "population"),
        ("sigma", "scalar", "distributional"),
        ("a", "group", "group"),
    ]


DATA = [
    ("outcome, index and predictor", MODEL, {("y", ROWS, "outcome"), ("g", ROWS, "index"), ("x", ROWS, "predictor")}),
    (
        "a group-level predictor",
        "y[i] ~ Normal(a[g[i]], 1)\na[j] ~ Normal(w[j], 1)\n",
        {("y", ROWS, "outcome"), ("g", ROWS, "index"), ("w", "g", "predictor")},
    ),
    ("binomial trials", "y[i] ~ Binomial(n[i], p)\np ~ Beta(1, 1)\n", {("y", ROWS, "outcome"), ("n", ROWS, "trials")}),
]


@pytest.mark.parametrize("what,text,expected", DATA, ids=[d[0] for d in DATA])
def test_data(what: str, text: str, expected: set[tuple[str, str, str]]) -> None:
    assert {(d.name, d.level, d.kind) for d in build(text).data} == expected


def test_derived_in_dependency_order_and_stan_names() -> None:
    m = build("y[i] ~ Normal(e[i], 1)\ne[i] = d[i] + 1\nd[i] = σ * x[i]\nσ ~ Normal(0, 1)\n")
    assert [d.name for d in m.derived] == ["d", "e"]
    assert m.stan_names["σ"] == "sigma"
    assert {g for g in m.groupings} == set()


def test_a_cycle_is_an_error() -> None:
    program, _ = parse("y[i] ~ Normal(a[i], 1)\na[i] = b[i]\nb[i] = a[i]\n", "m.mlm")
    model, diags = check(program)
    assert model is None and [d.code for d in diags if d.is_error] == ["E304"]
