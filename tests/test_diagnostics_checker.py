"""Model in, diagnostic out, for the checker's newer diagnostics (issue 9): each row is
(description, .mlm text, expected code, line, column, words the message or hint must hold)."""

from __future__ import annotations

import pytest

from mlmdsl.compiler import compile_source

CROSSED = (
    "a[j] ~ Normal(abar, s_a)\ng[k] ~ Normal(gbar, s_g)\nabar ~ Normal(0, 1)\ngbar ~ Normal(0, 1)\n"
    "s_a ~ Exponential(1)\ns_g ~ Exponential(1)\ns ~ Exponential(1)\n"
)

ROWS = [
    (
        "intercepts summed in mu[i] =",
        "y[i] ~ Normal(mu[i], s)\nmu[i] = a[person[i]] + g[item[i]]\n" + CROSSED,
        "W502", 2, 1, ["`abar` (the mean of `a`)", "`gbar` (the mean of `g`)", "`mu`"],
    ),
    (
        "intercepts summed inline in the likelihood",
        "y[i] ~ Normal(a[person[i]] + g[item[i]], s)\n" + CROSSED,
        "W502", 1, 1, ["`abar`", "`gbar`", "the mean of `y`"],
    ),
    (
        "intercepts summed through a derived quantity",
        "y[i] ~ Normal(eta[i] + g[item[i]], s)\neta[i] = a[person[i]]\n" + CROSSED,
        "W502", 1, 1, ["`abar`", "`gbar`", "the mean of `y`"],
    ),
    (
        "intercepts summed in a linked quantity",
        "y[i] ~ Bernoulli(p[i])\nlogit(p[i]) = a[person[i]] + g[item[i]]\n"
        + CROSSED.replace("s ~ Exponential(1)\n", ""),
        "W502", 2, 1, ["`abar`", "`gbar`", "`p`"],
    ),
    (
        "a scalar intercept and a group mean, inline",
        "y[i] ~ Poisson(exp(b0 + a[person[i]]))\nb0 ~ Normal(0, 1)\na[j] ~ Normal(abar, s_a)\n"
        "abar ~ Normal(0, 1)\ns_a ~ Exponential(1)\n",
        None, 0, 0, [],  # inside exp(): not a sum at the top of the mean, not linted
    ),
    (
        "did you mean, in Greek",
        "y[i] ~ Normal(α[g[i]], σ)\nα[j] ~ Normal(0, σ_a)\nσ_α ~ Exponential(1)\nσ ~ Exponential(1)\n",
        "E300", 2, 18, ["`σ_α`"],
    ),
    (
        "no likelihood points at the file and shows one",
        "abar ~ Normal(0, 1)\n",
        "E305", 1, 1, ["`y[i] ~ Normal(mu[i], sigma)`", "outcome", "row letter"],
    ),
]


@pytest.mark.parametrize(
    "what,text,code,line,column,words", ROWS, ids=[r[0] for r in ROWS]
)
def test_checker_diagnostic(what: str, text: str, code: str | None, line: int, column: int, words: list[str]) -> None:
    compiled = compile_source(text, "m.mlm")
    found = [d for d in compiled.diagnostics if d.severity != "note"]
    if code is None:
        assert not [d for d in found if d.code == "W502"], found
        return
    hits = [d for d in found if d.code == code]
    assert hits, found
    d = hits[0]
    assert (d.span.line, d.span.column) == (line, column), d
    text_of = d.message + " " + (d.hint or "")
    for w in words:
        assert w in text_of, text_of


def test_one_warning_per_set_of_intercepts() -> None:
    text = "y[i] ~ Normal(mu[i], s)\nmu[i] = a[person[i]] + g[item[i]]\n" + CROSSED
    assert [d.code for d in compile_source(text, "m.mlm").diagnostics].count("W502") == 1
