"""`mlm fmt`: the canonical layout, as a table (messy -> canonical), a property (idempotent, and
any spacing of the examples' lines formats to the same text), the examples kept formatted, and
the command's --check / in-place / syntax-error behaviour."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlmdsl.compiler.parse import parse
from mlmdsl.editor.fmt import FormatError, format_source, tokenize_line
from tests.conftest import EXAMPLES

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.mlm"))

CASES = [
    # spacing around ~ = and the operators; none inside brackets; one after commas
    ("y[ i ]~Normal( mu[i] ,sigma )\n", "y[i] ~ Normal(mu[i], sigma)\n"),
    ("mu[i]=a+b*x[i]-c/d[i]\n", "mu[i] = a + b * x[i] - c / d[i]\n"),
    # ^ binds tight; a sign sticks to what it signs
    ("mu[i] = b * x[i] ^ 2 + - 1.5 * - z[i]\n", "mu[i] = b * x[i]^2 + -1.5 * -z[i]\n"),
    ("y[i] ~ Normal(- 0.5 * d[id[i]], s)\n", "y[i] ~ Normal(-0.5 * d[id[i]], s)\n"),
    ("mu[i] = 2 *(a + b)\n", "mu[i] = 2 * (a + b)\n"),
    # vectors, correlated effects, annotations and directives
    (
        "[a,b][j]~MVNormal([abar ,bbar],Rho,tau)   @centered\n",
        "[a, b][j] ~ MVNormal([abar, bbar], Rho, tau) @centered\n",
    ),
    ("  @rows   n\n", "@rows n\n"),
    ("c(a, b)[j] ~ multi_normal(c(abar, bbar), Rho, tau)\n", "c(a, b)[j] ~ multi_normal(c(abar, bbar), Rho, tau)\n"),
    # comments kept as written, two spaces before a trailing one; `//` comments too
    ("#comment as written  \ny ~ Normal(0,1)# trailing\n", "#comment as written\ny ~ Normal(0, 1)  # trailing\n"),
    ("y ~ Normal(0, 1) // a / b\n", "y ~ Normal(0, 1)  // a / b\n"),
    # blank lines kept, at most two in a row, none at the ends; one final newline
    ("\n\ny ~ Normal(0, 1)\n\n\n\n\nz ~ Normal(0, 1)\n\n\n", "y ~ Normal(0, 1)\n\n\nz ~ Normal(0, 1)\n"),
    ("y ~ Normal(0, 1)", "y ~ Normal(0, 1)\n"),
    # continuation lines keep their indentation, or get four spaces
    ("mu[i] = a +\n        b * x[i]\n", "mu[i] = a +\n        b * x[i]\n"),
    ("mu[i] = a +\nb * x[i]\n", "mu[i] = a +\n    b * x[i]\n"),
    ("y[i] ~ Normal(mu[i],\n\tsigma)\n", "y[i] ~ Normal(mu[i],\n    sigma)\n"),
    ("mu[i] = a \\\n  + b\n", "mu[i] = a \\\n  + b\n"),
    ("y[i] ~ Normal(\nmu[i],\n  sigma\n)\n", "y[i] ~ Normal(\n    mu[i],\n  sigma\n)\n"),
    ("mu[i] = a +\n  # a comment inside\n  b\n", "mu[i] = a +\n  # a comment inside\n  b\n"),
    # several statements on a line stay on it
    ("a ~ Normal(0,1);b ~ Normal(0,1)\n", "a ~ Normal(0, 1); b ~ Normal(0, 1)\n"),
    # Greek names and dotted column names are names
    (
        "σ_α~Exponential(1)\nuse.contraception[i]~Bernoulli(p[i])\n",
        "σ_α ~ Exponential(1)\nuse.contraception[i] ~ Bernoulli(p[i])\n",
    ),
    # Windows line endings are kept
    ("y ~ Normal(0,1)\r\nz ~ Normal(0,1)\r\n", "y ~ Normal(0, 1)\r\nz ~ Normal(0, 1)\r\n"),
    ("", ""),
]


@pytest.mark.parametrize(("messy", "canonical"), CASES)
def test_canonical_layout(messy: str, canonical: str) -> None:
    assert format_source(messy) == canonical
    assert format_source(canonical) == canonical


def test_long_lines_are_left_long() -> None:
    terms = " + ".join(f"b{k} * x{k}[i]" for k in range(40))
    text = f"mu[i] = {terms}\n"
    assert len(text) > 400
    assert format_source(text) == text


def test_a_file_that_does_not_parse_is_not_formatted() -> None:
    with pytest.raises(FormatError) as info:
        format_source("y[i] ~ Normal(mu[i], sigma\nsigma ~ Exponential(1)\n")
    assert [d.code for d in info.value.diagnostics] == ["E100"]


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_every_example_is_formatted(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert format_source(text, str(path)) == text, f"run `mlm fmt {path}`"


# ---- properties ---------------------------------------------------------------------------

EXAMPLE_LINES = sorted({line for p in EXAMPLE_FILES for line in p.read_text(encoding="utf-8").splitlines() if line})


def _respaced(line: str, gaps: list[str]) -> str:
    """The line's tokens joined by the given spacing (a space where two words would merge)."""
    tokens = [t for t in tokenize_line(line) if t.kind != "ws"]
    out = ""
    for k, tok in enumerate(tokens):
        gap = gaps[k % len(gaps)] if k else ""
        if k and tok.kind in {"name", "number"} and tokens[k - 1].kind in {"name", "number"} and not gap:
            gap = " "
        if tok.kind == "comment" and not gap:
            gap = " "
        out += gap + tok.text
    return out


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(st.sampled_from(EXAMPLE_LINES), min_size=1, max_size=12),
    gaps=st.lists(st.sampled_from(["", " ", "  ", "\t", " \t "]), min_size=1, max_size=7),
    blanks=st.lists(st.integers(0, 4), min_size=1, max_size=12),
    trailing=st.sampled_from(["", " ", "\t", "   "]),
)
def test_any_spacing_of_the_examples_formats_alike(lines, gaps, blanks, trailing) -> None:
    canonical_lines = []
    messy_lines = []
    for k, line in enumerate(lines):
        n_blank = blanks[k % len(blanks)]
        canonical_lines.append(line)
        messy_lines += [trailing] * n_blank + [_respaced(line, gaps).lstrip() + trailing]
    canonical = "\n".join(canonical_lines) + "\n"
    messy = "\n".join(messy_lines) + "\n"
    if parse(canonical)[0] is None:  # a line alone may not parse (a continuation); skip those draws
        return
    once = format_source(messy)
    assert format_source(once) == once  # idempotent
    # Blank lines aside, the messy text formats to the examples' own lines.
    assert [line for line in once.splitlines() if line] == [line for line in canonical.splitlines() if line]


# ---- the command --------------------------------------------------------------------------


def _mlm(*args: str, cwd: Path | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlmdsl.cli", *args], capture_output=True, text=True, cwd=cwd, input=stdin, check=False
    )


def test_mlm_fmt_check_exits_1_when_a_file_would_change(tmp_path: Path) -> None:
    messy = tmp_path / "messy.mlm"
    messy.write_text("y ~ Normal(0,1)\n", encoding="utf-8")
    tidy = tmp_path / "tidy.mlm"
    tidy.write_text("y ~ Normal(0, 1)\n", encoding="utf-8")
    out = _mlm("fmt", "--check", str(messy), str(tidy))
    assert out.returncode == 1
    assert f"would reformat {messy}" in out.stderr
    assert messy.read_text(encoding="utf-8") == "y ~ Normal(0,1)\n"  # --check changes nothing
    assert _mlm("fmt", "--check", str(tidy)).returncode == 0


def test_mlm_fmt_rewrites_in_place(tmp_path: Path) -> None:
    messy = tmp_path / "messy.mlm"
    messy.write_text("y ~ Normal(0,1)\n", encoding="utf-8")
    out = _mlm("fmt", str(messy))
    assert out.returncode == 0, out.stderr
    assert messy.read_text(encoding="utf-8") == "y ~ Normal(0, 1)\n"
    assert _mlm("fmt", "--check", str(messy)).returncode == 0


def test_mlm_fmt_reads_stdin_and_shows_a_diff(tmp_path: Path) -> None:
    out = _mlm("fmt", "-", stdin="y ~ Normal(0,1)\n")
    assert out.returncode == 0 and out.stdout == "y ~ Normal(0, 1)\n"
    messy = tmp_path / "messy.mlm"
    messy.write_text("y ~ Normal(0,1)\n", encoding="utf-8")
    out = _mlm("fmt", "--diff", str(messy))
    assert out.returncode == 1 and "+y ~ Normal(0, 1)" in out.stdout
    assert messy.read_text(encoding="utf-8") == "y ~ Normal(0,1)\n"


def test_mlm_fmt_reports_a_syntax_error_and_leaves_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mlm"
    bad.write_text("y ~ Normal(0,1\n", encoding="utf-8")
    out = _mlm("fmt", str(bad))
    assert out.returncode == 1
    assert f"{bad}:1:" in out.stderr and "error" in out.stderr and "Traceback" not in out.stderr
    assert bad.read_text(encoding="utf-8") == "y ~ Normal(0,1\n"


def test_mlm_fmt_check_passes_on_the_examples() -> None:
    out = _mlm("fmt", "--check", *map(str, EXAMPLE_FILES))
    assert out.returncode == 0, out.stderr


# ---- any statement, any spacing, wrapped anywhere the language allows ----------------------

NAMES = st.sampled_from(["a", "b1", "σ_α", "ᾱ", "use.contraception", "x", "mu"])
NUMBERS = st.sampled_from(["0", "1.5", ".5", "2e-3", "10"])


def _expr(depth: int):
    leaf = st.one_of(NAMES.map(lambda n: [n]), NUMBERS.map(lambda n: [n]), NAMES.map(lambda n: [n, "[", "i", "]"]))
    if depth == 0:
        return leaf
    sub = _expr(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(sub, st.sampled_from(["+", "-", "*", "/", "^"]), sub).map(lambda t: [*t[0], t[1], *t[2]]),
        sub.map(lambda e: ["-", *e] if e[0] != "-" else e),
        sub.map(lambda e: ["(", *e, ")"]),
        st.tuples(st.sampled_from(["exp", "log", "Phi"]), sub).map(lambda t: [t[0], "(", *t[1], ")"]),
        st.lists(sub, min_size=1, max_size=3).map(lambda es: ["[", *sum(([*e, ","] for e in es), [])[:-1], "]"]),
    )


STATEMENTS = st.one_of(
    st.tuples(NAMES, _expr(3), _expr(2)).map(
        lambda t: [t[0], "[", "i", "]", "~", "Normal", "(", *t[1], ",", *t[2], ")"]
    ),
    st.tuples(NAMES, _expr(3)).map(lambda t: [t[0], "[", "i", "]", "=", *t[1]]),
)
_BREAK_AFTER = {"+", "-", "*", "/", "^", ",", "(", "["}


@settings(max_examples=200, deadline=None)
@given(
    statements=st.lists(STATEMENTS, min_size=1, max_size=4),
    spacing=st.lists(st.sampled_from(["", " ", "  ", "\t"]), min_size=1, max_size=9),
    breaks=st.lists(st.booleans(), min_size=1, max_size=11),
    indents=st.lists(st.sampled_from(["", " ", "    ", "\t", "         "]), min_size=1, max_size=5),
    comments=st.lists(st.sampled_from(["", "", " # why", "  // note"]), min_size=1, max_size=5),
)
def test_any_statement_wrapped_anywhere_formats_idempotently(statements, spacing, breaks, indents, comments) -> None:
    lines, k = [], 0
    for tokens in statements:
        text = ""
        for j, tok in enumerate(tokens):
            k += 1
            gap = spacing[k % len(spacing)] if j else ""
            word = re.compile(r"[\w.]")
            if j and not gap and word.match(text[-1]) and word.match(tok[0]):
                gap = " "
            text += gap + tok
            if tok in _BREAK_AFTER and j < len(tokens) - 1 and breaks[k % len(breaks)]:
                text += comments[k % len(comments)] + "\n" + indents[k % len(indents)]
        lines.append(text + comments[k % len(comments)])
    source = "\n".join(lines) + "\n"
    assert parse(source)[0] is not None, source
    once = format_source(source)  # raises if the statements changed
    assert format_source(once) == once, (source, once)
