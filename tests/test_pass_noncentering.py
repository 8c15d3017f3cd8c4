"""Pass `noncentering`: model text and the caller's choices -> the form of each group effect."""

from __future__ import annotations

import pytest

from mlmdsl.compiler.check import check
from mlmdsl.compiler.parse import parse

BASE = "y[i] ~ Normal(a[g[i]], s)\n{ann}a[j] ~ Normal(m, t)\nm ~ Normal(0, 1)\nt ~ Exponential(1)\ns ~ Exponential(1)\n"


def form(text: str, **kw: object) -> tuple[bool, list[str]]:
    program, _ = parse(text, "m.mlm")
    model, diags = check(program, **kw)  # type: ignore[arg-type]
    assert model is not None, diags
    return model.param("a").is_noncentered, [d.code for d in diags if d.code in ("N600", "W504")]


TABLE = [
    ("non-centred by default", BASE.format(ann=""), {}, (True, ["N600"])),
    ("the caller's default", BASE.format(ann=""), {"default_centered": True}, (False, ["N600"])),
    ("the line wins over the caller", BASE.format(ann="@noncentered\n"), {"default_centered": True}, (True, ["N600"])),
    (
        "the directive wins over a data choice",
        "@centered\n" + BASE.format(ann=""),
        {"centered": {"a": False}},
        (False, ["N600"]),
    ),
    ("a data choice", BASE.format(ann=""), {"centered": {"a": True}, "reasons": {"a": "many rows"}}, (False, ["N600"])),
    (
        "a prior using a derived quantity stays centred",
        BASE.format(ann="").replace("Normal(m, t)", "Normal(d, t)") + "d = m * 2\n",
        {},
        (False, ["W504"]),
    ),
    (
        "a fixed scale makes no funnel",
        BASE.format(ann="").replace("Normal(m, t)", "Normal(m, 1)").replace("t ~ Exponential(1)\n", ""),
        {},
        (False, []),
    ),
]


@pytest.mark.parametrize("what,text,kw,expected", TABLE, ids=[t[0] for t in TABLE])
def test_form(what: str, text: str, kw: dict, expected: tuple[bool, list[str]]) -> None:
    assert form(text, **kw) == expected


def test_the_reason_is_in_the_note() -> None:
    program, _ = parse(BASE.format(ann=""), "m.mlm")
    _, diags = check(program, centered={"a": True}, reasons={"a": "many rows per group"})
    assert any("many rows per group" in d.message for d in diags if d.code == "N600")
