"""Hostile or odd input text (issue 9): a byte-order mark, characters pasted from slides and PDFs,
expressions nested past any hand-written model. Each gets a located error naming what is wrong,
or is simply accepted; never a traceback or "internal error"."""

from __future__ import annotations

import pytest

from mlmdsl.cli import main
from mlmdsl.compiler import compile_source
from mlmdsl.compiler.parse import MAX_DEPTH

GOOD = "y[i] ~ Normal(mu, sigma)\nmu ~ Normal(0, 1)\nsigma ~ Exponential(1)\n"


def _errors(text: str) -> list:
    compiled = compile_source(text, "m.mlm")
    return [d for d in compiled.diagnostics if d.is_error]


@pytest.mark.parametrize(
    "text",
    [
        "\ufeff" + GOOD,  # UTF-8 with a byte-order mark (Windows editors)
        GOOD.replace("\n", "\r\n"),  # Windows line endings
        GOOD.replace("\n", "\r"),  # old Mac line endings
        "\ufeff" + GOOD.replace("\n", "\r\n"),
        "# a comment with \u201csmart quotes\u201d, an en dash \u2013 and\u00a0a no-break space\n" + GOOD,
    ],
    ids=["bom", "crlf", "cr", "bom-crlf", "lookalikes-in-comments"],
)
def test_accepted_encodings(text: str) -> None:
    compiled = compile_source(text)
    assert compiled.ok, [(d.code, d.message) for d in compiled.diagnostics]


def test_bom_file_through_the_cli(tmp_path, capsys) -> None:
    path = tmp_path / "bom.mlm"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert main(["check", str(path)]) == 0


# (description, text, line, column, character name in the message, what the hint says to type)
LOOKALIKES = [
    ("minus sign", "y[i] ~ Normal(mu, sigma)\nmu ~ Normal(\u22121, 1)\nsigma ~ Exponential(1)\n", 2, 13,
     "U+2212 MINUS SIGN", "type `-`"),
    ("en dash", "y[i] ~ Normal(mu \u2013 1, sigma)\nmu ~ Normal(0, 1)\nsigma ~ Exponential(1)\n", 1, 18,
     "U+2013 EN DASH", "type `-`"),
    ("no-break space", "y[i] ~\u00a0Normal(mu, sigma)\nmu ~ Normal(0, 1)\nsigma ~ Exponential(1)\n", 1, 7,
     "U+00A0 NO-BREAK SPACE", "ASCII space"),
    ("full-width parentheses", "y[i] ~ Normal\uff08mu, sigma\uff09\nmu ~ Normal(0, 1)\nsigma ~ Exponential(1)\n", 1, 14,
     "U+FF08 FULLWIDTH LEFT PARENTHESIS", "type `(`"),
    ("zero-width space", "y[i] ~ Normal(m\u200bu, sigma)\nmu ~ Normal(0, 1)\nsigma ~ Exponential(1)\n", 1, 16,
     "U+200B ZERO WIDTH SPACE", "delete it"),
    ("line separator", "y[i] ~ Normal(mu, sigma)\u2028mu ~ Normal(0, 1)\nsigma ~ Exponential(1)\n", 1, 25,
     "U+2028 LINE SEPARATOR", "newline"),
    ("line separator inside a comment", "# note\u2028more\n" + GOOD, 1, 7, "U+2028 LINE SEPARATOR", "newline"),
    ("smart quotes", "y[i] ~ Normal(mu, sigma) @\u201ccentered\u201d\nmu ~ Normal(0, 1)\nsigma ~ Exponential(1)\n",
     1, 27, "U+201C LEFT DOUBLE QUOTATION MARK", "delete it"),
    ("multiplication sign", "y[i] ~ Normal(2 \u00d7 mu, sigma)\nmu ~ Normal(0, 1)\nsigma ~ Exponential(1)\n", 1, 17,
     "U+00D7 MULTIPLICATION SIGN", "type `*`"),
    ("tilde operator", "y[i] \u223c Normal(mu, sigma)\nmu ~ Normal(0, 1)\nsigma ~ Exponential(1)\n", 1, 6,
     "U+223C TILDE OPERATOR", "type `~`"),
    ("full-width digit", "y[i] ~ Normal(mu, sigma)\nmu ~ Normal(0, \uff11)\nsigma ~ Exponential(1)\n", 2, 16,
     "U+FF11 FULLWIDTH DIGIT ONE", "type `1`"),
    ("R's arrow", "mu[i] \u2190 a\ny[i] ~ Normal(mu[i], 1)\na ~ Normal(0, 1)\n", 1, 7,
     "U+2190 LEFTWARDS ARROW", "assignment is `=`"),
]  # fmt: skip


@pytest.mark.parametrize(("desc", "text", "line", "col", "name", "hint"), LOOKALIKES, ids=[c[0] for c in LOOKALIKES])
def test_lookalike_character(desc, text, line, col, name, hint) -> None:
    errors = _errors(text)
    assert errors, f"{desc}: accepted"
    first = errors[0]
    assert first.code == "E101"
    assert (first.span.line, first.span.column) == (line, col)
    assert name in first.message
    assert first.hint is not None and hint in first.hint


def test_every_lookalike_is_reported_at_once() -> None:
    text = "y[i] ~ Normal(\u22121 + mu, sigma)\nmu ~ Normal(\u22122, 1)\nsigma ~ Exponential(1)\n"
    errors = _errors(text)
    assert [(d.span.line, d.span.column) for d in errors] == [(1, 15), (2, 13)]


def test_other_non_ascii_characters_are_named() -> None:
    errors = _errors("y[i] ~ Normal(mu, sigma) \u2026\nmu ~ Normal(0, 1)\nsigma ~ Exponential(1)\n")
    assert errors[0].code == "E101" and "U+2026 HORIZONTAL ELLIPSIS" in errors[0].message


@pytest.mark.parametrize("literal", ["1e999", "-1e999", "1" + "0" * 400])
def test_a_number_beyond_a_double_is_a_located_error(literal: str) -> None:
    errors = _errors(f"y[i] ~ Normal(mu, 1)\nmu ~ Normal(0, {literal})\n")
    assert [d.code for d in errors] == ["E103"], errors
    assert (errors[0].span.line, errors[0].span.column) == (2, 16)
    assert literal in errors[0].message


def _with_mu(rhs: str) -> str:
    return f"y[i] ~ Normal(mu[i], sigma)\nmu[i] = {rhs}\na ~ Normal(0, 1)\nsigma ~ Exponential(1)\n"


DEEP = [
    ("500 unary minuses", _with_mu("-" * 500 + "a")),
    ("1,000 nested calls", _with_mu("exp(" * 1000 + "a" + ")" * 1000)),
    ("1,000 nested indexes", _with_mu("x" + "[g" * 1000 + "[i" + "]" * 1001)),
    ("500 powers", _with_mu(" ^ ".join(["a"] * 500))),
    ("1,000 nested vectors", _with_mu("[" * 1000 + "a" + "]" * 1000)),
]


@pytest.mark.parametrize(("desc", "text"), DEEP, ids=[c[0] for c in DEEP])
def test_deep_nesting_is_a_located_error_stating_the_limit(desc: str, text: str) -> None:
    errors = _errors(text)
    assert [d.code for d in errors] == ["E102"], errors
    assert errors[0].span.line == 2 and errors[0].span.column > 8
    assert str(MAX_DEPTH) in errors[0].message and str(MAX_DEPTH) in (errors[0].hint or "")


def test_nesting_within_the_limit_compiles() -> None:
    depth = MAX_DEPTH // 2
    compiled = compile_source(_with_mu("exp(" * depth + "a" + ")" * depth + " + x[i]"))
    assert compiled.ok


@pytest.mark.parametrize(
    "rhs",
    [
        " + ".join(["a * x[i]"] * 500),
        " - ".join(["a"] * 500) + " + x[i]",
        " + ".join(f"{k} * x[i]" for k in range(1, 2001)),
        " * ".join(["x[i]"] * 300) + " / 2 / 3",
        "(" * 1000 + "a" + ")" * 1000 + " + x[i]",  # redundant parentheses make no node
    ],
    ids=["500-term-sum", "500-term-difference", "2000-term-sum", "300-factor-product", "1000-parentheses"],
)
def test_long_flat_chains_compile(rhs: str, stanc, tmp_path) -> None:
    from tests.conftest import assert_stanc_accepts

    compiled = compile_source(_with_mu(rhs))
    assert compiled.ok, [(d.code, d.message) for d in compiled.diagnostics if d.is_error]
    assert_stanc_accepts(stanc, compiled.stan_code, tmp_path)


def test_balanced_chain_keeps_the_value() -> None:
    import random

    from mlmdsl.compiler import ast
    from mlmdsl.compiler.parse import parse

    rng = random.Random(3)
    terms = [str(rng.randint(1, 9)) for _ in range(200)]
    ops = [rng.choice("+-") for _ in range(199)]
    text = terms[0] + "".join(f" {o} {t}" for o, t in zip(ops, terms[1:], strict=True))
    program, _ = parse(f"mu ~ Normal({text}, 1)\n")
    rhs = program.statements[0].rhs.args[0]
    assert eval(ast.to_text(rhs)) == eval(text)


def test_deep_input_through_the_cli_is_not_an_internal_error(tmp_path, capsys) -> None:
    path = tmp_path / "deep.mlm"
    path.write_text(DEEP[1][1], encoding="utf-8")
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "internal error" not in err and "E102" in err and f"{path}:2:" in err


NOTED = (
    "y[i] ~ Normal(alpha[id[i]], sigma)\nalpha[j] ~ Normal(abar, sigma_a)\nabar ~ Normal(0, 1)\n"
    "sigma_a ~ Exponential(1)\nsigma ~ Exponential(1)\n"
)


@pytest.mark.parametrize("command", ["check", "transpile"])
@pytest.mark.parametrize("verbose", [False, True])
def test_one_rule_for_notes(command: str, verbose: bool, tmp_path, capsys) -> None:
    """check and transpile: quiet by default, -v shows the notes (N600)."""
    path = tmp_path / "m.mlm"
    path.write_text(NOTED, encoding="utf-8")
    assert main([command, str(path), *(["-v"] if verbose else [])]) == 0
    err = capsys.readouterr().err
    assert ("[N600]" in err) == verbose
    if command == "check":
        lines = err.splitlines()
        assert lines[-1] == f"{path}: ok"  # the verdict on its own line, after every note
